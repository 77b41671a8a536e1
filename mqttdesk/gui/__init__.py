"""The Qt front-end: main window, one module per tab, item models over the store and the registry, widgets.

Nothing outside this package imports it; it imports everything below it (see docs/ARCHITECTURE.md).
"""
