"""mqttdesk: a desktop MQTT broker with real authentication you can see."""

from __future__ import annotations

__version__ = "0.1.0"
