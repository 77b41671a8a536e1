"""The MQTT server: listeners (TCP, TLS, WebSocket), the connection flow, sessions, routing, the live registry, kick.

It runs its own protocol engine; amqtt is only a test and benchmark baseline (see the README).
"""
