"""One module per benchmark: each starts the systems it needs, drives the load and returns its figures."""
