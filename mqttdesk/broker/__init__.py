"""The amqtt adapter: our broker subclass, the live session registry, kick, listeners.

This is the only package that imports amqtt (pinned to 0.12.1: the overrides here rely on its internals).
"""
