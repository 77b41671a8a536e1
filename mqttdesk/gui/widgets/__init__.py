"""Small widgets shared by several tabs: state badge, password field, field error label, confirmation."""
