"""Settings: listener address, anonymous access, per-client limits, the caps on connections waiting for their CONNECT
and the Auth log's size, as JSON values by key.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mqttdesk.core.errors import NotFoundError, ValidationError
from mqttdesk.core.limits import AdmissionLimits, SessionLimits
from mqttdesk.core.model import AnonymousPolicy
from mqttdesk.store.changes import Change, ChangeKind

if TYPE_CHECKING:
    from mqttdesk.store.db import Store

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 1883

LISTENER_HOST = "listener.host"
LISTENER_PORT = "listener.port"
ANONYMOUS_MODE = "anonymous.mode"  # "auto" (on only while listening on loopback), "on" or "off"
ANONYMOUS_ROLES = "anonymous.roles"
MAX_INFLIGHT = "limits.max_inflight_messages"
MAX_QUEUED = "limits.max_queued_messages"
MAX_SUBSCRIPTIONS_PER_PACKET = "limits.max_subscriptions_per_packet"
MAX_SUBSCRIPTIONS_PER_CLIENT = "limits.max_subscriptions_per_client"
MAX_INCOMING_QOS2_BYTES = "limits.max_incoming_qos2_bytes"
MAX_PENDING_PER_ADDRESS = "limits.max_pending_per_address"
MAX_PENDING = "limits.max_pending_connections"
AUTH_LOG_MAX_BYTES = "auth_log.max_bytes"
DEFAULT_AUTH_LOG_MAX_BYTES = 32 * 1024 * 1024
MIN_AUTH_LOG_MAX_BYTES = 256 * 1024


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def validate_port(port: int) -> int:
    if not 0 <= port <= 65535:
        raise ValidationError(f"port must be between 0 and 65535, not {port}")
    return port


def validate_host(host: str) -> str:
    host = host.strip()
    if not host:
        raise ValidationError("the listen address must not be empty")
    if host != "localhost":
        try:
            ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            raise ValidationError(f"{host!r} is not an IP address (use e.g. 127.0.0.1, 0.0.0.0 or ::1)") from None
    return host


@dataclass(frozen=True, slots=True)
class AnonymousSetting:
    mode: str  # auto | on | off
    roles: tuple[str, ...]
    effective: bool  # what applies now, given the listen address

    def describe(self) -> str:
        if not self.effective:
            return "off" if self.mode != "auto" else "off (automatically: the broker listens beyond loopback)"
        scope = f"roles {', '.join(self.roles)}" if self.roles else "every topic, read and write"
        return f"on ({'automatically, loopback only' if self.mode == 'auto' else 'explicitly'}; {scope})"


class SettingsRepo:
    def __init__(self, store: Store) -> None:
        self._store = store

    def get(self, key: str, default: Any = None) -> Any:
        row = self._store.connection.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        return default if row is None else json.loads(row["value"])

    def set(self, key: str, value: Any) -> None:
        with self._store.write(Change(ChangeKind.SETTINGS, key)) as db:
            db.execute(
                "INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, json.dumps(value)),
            )

    # -- listener --------------------------------------------------------------------------------

    def listener(self) -> tuple[str, int]:
        return str(self.get(LISTENER_HOST, DEFAULT_HOST)), int(self.get(LISTENER_PORT, DEFAULT_PORT))

    def set_listener(self, host: str, port: int) -> None:
        host, port = validate_host(host), validate_port(port)
        with self._store.write():
            self.set(LISTENER_HOST, host)
            self.set(LISTENER_PORT, port)

    # -- delivery limits ---------------------------------------------------------------------------

    def session_limits(self) -> SessionLimits:
        defaults = SessionLimits()
        return SessionLimits(
            max_inflight=int(self.get(MAX_INFLIGHT, defaults.max_inflight)),
            max_queued=int(self.get(MAX_QUEUED, defaults.max_queued)),
            max_subscriptions_per_packet=int(self.get(MAX_SUBSCRIPTIONS_PER_PACKET,
                                                      defaults.max_subscriptions_per_packet)),
            max_subscriptions_per_client=int(self.get(MAX_SUBSCRIPTIONS_PER_CLIENT,
                                                      defaults.max_subscriptions_per_client)),
            max_incoming_qos2_bytes=int(self.get(MAX_INCOMING_QOS2_BYTES, defaults.max_incoming_qos2_bytes)),
        )

    def set_session_limits(self, limits: SessionLimits) -> None:
        """Applies to sessions that connect after the next broker start."""
        with self._store.write():
            self.set(MAX_INFLIGHT, limits.max_inflight)
            self.set(MAX_QUEUED, limits.max_queued)
            self.set(MAX_SUBSCRIPTIONS_PER_PACKET, limits.max_subscriptions_per_packet)
            self.set(MAX_SUBSCRIPTIONS_PER_CLIENT, limits.max_subscriptions_per_client)
            self.set(MAX_INCOMING_QOS2_BYTES, limits.max_incoming_qos2_bytes)

    def admission_limits(self) -> AdmissionLimits:
        defaults = AdmissionLimits()
        return AdmissionLimits(int(self.get(MAX_PENDING_PER_ADDRESS, defaults.max_pending_per_address)),
                               int(self.get(MAX_PENDING, defaults.max_pending)))

    def set_admission_limits(self, limits: AdmissionLimits) -> None:
        """Applies from the next broker start."""
        with self._store.write():
            self.set(MAX_PENDING_PER_ADDRESS, limits.max_pending_per_address)
            self.set(MAX_PENDING, limits.max_pending)

    # -- the Auth log -------------------------------------------------------------------------------

    def auth_log_max_bytes(self) -> int:
        """How large the data file may grow with the Auth log before its oldest (noise first) entries go."""
        return int(self.get(AUTH_LOG_MAX_BYTES, DEFAULT_AUTH_LOG_MAX_BYTES))

    def set_auth_log_max_bytes(self, max_bytes: int) -> None:
        if max_bytes < MIN_AUTH_LOG_MAX_BYTES:
            raise ValidationError(f"auth_log.max_bytes must be at least {MIN_AUTH_LOG_MAX_BYTES:,}, not {max_bytes:,}")
        self.set(AUTH_LOG_MAX_BYTES, max_bytes)

    # -- anonymous access ----------------------------------------------------------------------------

    def anonymous(self, listen_host: str | None = None) -> AnonymousSetting:
        """The anonymous setting and what it means while listening on `listen_host` (default: the stored one)."""
        mode = str(self.get(ANONYMOUS_MODE, "auto"))
        roles = tuple(self.get(ANONYMOUS_ROLES, []))
        host = self.listener()[0] if listen_host is None else listen_host
        effective = mode == "on" or (mode == "auto" and is_loopback(host))
        return AnonymousSetting(mode, roles, effective)

    def anonymous_policy(self, listen_host: str | None = None) -> AnonymousPolicy:
        setting = self.anonymous(listen_host)
        return AnonymousPolicy(enabled=setting.effective, roles=setting.roles)

    def set_anonymous_roles(self, roles: tuple[str, ...]) -> None:
        """Change the roles anonymous clients get, keeping the mode (auto, on, off) as it is."""
        self._check_roles(roles)
        self.set(ANONYMOUS_ROLES, list(dict.fromkeys(roles)))

    def _check_roles(self, roles: tuple[str, ...]) -> None:
        known = set(self._store.roles.names())
        for role in roles:
            if role not in known:
                raise NotFoundError(f"no role named '{role}'")

    def set_anonymous(self, enabled: bool, roles: tuple[str, ...] | None = None) -> None:
        """Turn anonymous access explicitly on or off; `roles` (when given) replace the roles anonymous clients get.

        Without `roles` the stored ones stay: turning access off and on again must not silently widen it to every
        topic.
        """
        if roles is not None:
            self._check_roles(roles)
        with self._store.write():
            self.set(ANONYMOUS_MODE, "on" if enabled else "off")
            if roles is not None:
                self.set(ANONYMOUS_ROLES, list(dict.fromkeys(roles)))
