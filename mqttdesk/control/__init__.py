"""How a CLI process talks to the running instance (GUI or `serve`) that owns the live sessions.

The instance listens on a random loopback TCP port and writes `instance.json` (mode 0600: port and a random token)
into its data dir; the CLI reads that file, connects, and sends one JSON line per request. TCP on loopback with a
token, rather than a Unix socket, works the same on every platform; the file's permissions keep other local users
out, as a socket's would.
"""
