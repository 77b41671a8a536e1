"""Load generators: small asyncio MQTT 3.1.1 clients on raw sockets (light on CPU, one process for all)."""
