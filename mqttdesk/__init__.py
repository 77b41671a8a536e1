"""mqttdesk: a desktop MQTT broker with real authentication you can see."""

from __future__ import annotations

from mqttdesk.core.version import __version__

__all__ = ["__version__"]
