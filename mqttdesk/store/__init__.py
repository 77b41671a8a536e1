"""SQLite persistence: the single source of truth for credentials, roles, settings and the Auth log."""

from mqttdesk.store.db import Store

__all__ = ["Store"]
