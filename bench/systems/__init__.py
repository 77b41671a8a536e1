"""The systems under test, each started as its own process on its own loopback port."""
