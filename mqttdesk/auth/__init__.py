"""The auth pipeline: turns CONNECT and topic requests into decisions, using core rules over a store snapshot."""
