"""Settings: listener addresses (TCP, TLS, WebSocket) and TLS files, anonymous access, per-client limits, the caps on
connections waiting for their CONNECT, the broker's bounds on connections and retained messages, the Auth log's size,
persistence on/off, the external HTTP service and the login guard (password guessing and flapping, `guard.*`), as
JSON values by key.
"""

from __future__ import annotations

import ipaddress
import json
import secrets
import time
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mqttdesk.core.errors import NotFoundError, ValidationError
from mqttdesk.core.external import ExternalSettings, validate
from mqttdesk.core.guard import GuardSettings
from mqttdesk.core.limits import AdmissionLimits, BrokerLimits, SessionLimits
from mqttdesk.core.model import AnonymousPolicy
from mqttdesk.store.changes import Change, ChangeKind

if TYPE_CHECKING:
    from mqttdesk.store.db import Store

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 1883
DEFAULT_TLS_PORT = 8883
DEFAULT_WS_PORT = 9001
DEFAULT_WSS_PORT = 9443

LISTENER_HOST = "listener.host"
LISTENER_PORT = "listener.port"
LISTENER_TCP = "listener.tcp"  # on/off, and the same for the others
LISTENER_TLS = "listener.tls"
LISTENER_TLS_PORT = "listener.tls_port"
LISTENER_WS = "listener.ws"
LISTENER_WS_PORT = "listener.ws_port"
LISTENER_WSS = "listener.wss"
LISTENER_WSS_PORT = "listener.wss_port"
LISTENER_MDNS = "listener.mdns"  # advertise the broker by mDNS/DNS-SD while listening beyond loopback
TLS_CERT_FILE = "tls.cert_file"
TLS_KEY_FILE = "tls.key_file"
TLS_CLIENT_CA_FILE = "tls.client_ca_file"
ANONYMOUS_MODE = "anonymous.mode"  # "auto" (on only while listening on loopback), "on" or "off"
ANONYMOUS_ROLES = "anonymous.roles"
MAX_INFLIGHT = "limits.max_inflight_messages"
MAX_QUEUED = "limits.max_queued_messages"
MAX_SUBSCRIPTIONS_PER_PACKET = "limits.max_subscriptions_per_packet"
MAX_SUBSCRIPTIONS_PER_CLIENT = "limits.max_subscriptions_per_client"
MAX_INCOMING_QOS2_BYTES = "limits.max_incoming_qos2_bytes"
MAX_KEEPALIVE = "limits.max_keepalive"
MAX_PACKET_SIZE = "limits.max_packet_size"
MAX_SUBSCRIBER_BACKLOG = "limits.max_subscriber_backlog_bytes"
MAX_CONNECTIONS = "limits.max_connections"
MAX_CONNECTIONS_PER_ADDRESS = "limits.max_connections_per_address"
MAX_RETAINED_MESSAGES = "limits.max_retained_messages"
MAX_RETAINED_BYTES = "limits.max_retained_bytes"
MAX_PENDING_PER_ADDRESS = "limits.max_pending_per_address"
MAX_PENDING = "limits.max_pending_connections"
AUTH_LOG_MAX_BYTES = "auth_log.max_bytes"
DEFAULT_AUTH_LOG_MAX_BYTES = 32 * 1024 * 1024
MIN_AUTH_LOG_MAX_BYTES = 256 * 1024
PERSISTENCE = "persistence.enabled"  # retained messages and kept sessions survive a restart (sessions.sqlite)
EXTERNAL = "external"  # the external HTTP service's settings, one JSON object (see core/external.py)
AUTH_SERVICE_SECRET = "auth_service.secret"  # what brokers asking the auth service must present
AUTH_SERVICE_HOST = "auth_service.host"
AUTH_SERVICE_PORT = "auth_service.port"
AUTH_SERVICE_ON = "auth_service.enabled"  # the window runs it beside the broker
DEFAULT_AUTH_SERVICE_PORT = 8091
EXTERNAL_FLUSH = "external.flushed"  # written by `external flush`: every process's pipeline empties its cache
GUARD_PREFIX = "guard."  # one key per GuardSettings field: guard.ban_after, guard.exempt_loopback, …


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
class ListenerSettings:
    """Which listeners run, where, and the TLS files; all listeners share the host."""

    host: str = DEFAULT_HOST
    tcp: bool = True
    tcp_port: int = DEFAULT_PORT
    tls: bool = False
    tls_port: int = DEFAULT_TLS_PORT
    ws: bool = False
    ws_port: int = DEFAULT_WS_PORT
    wss: bool = False
    wss_port: int = DEFAULT_WSS_PORT
    mdns: bool = True
    cert_file: str | None = None
    key_file: str | None = None
    client_ca_file: str | None = None


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

    def listeners(self) -> ListenerSettings:
        d = ListenerSettings()
        host, port = self.listener()

        def path(key: str) -> str | None:
            value = self.get(key)
            return str(value) if value else None

        return ListenerSettings(
            host=host, tcp=bool(self.get(LISTENER_TCP, d.tcp)), tcp_port=port,
            tls=bool(self.get(LISTENER_TLS, d.tls)), tls_port=int(self.get(LISTENER_TLS_PORT, d.tls_port)),
            ws=bool(self.get(LISTENER_WS, d.ws)), ws_port=int(self.get(LISTENER_WS_PORT, d.ws_port)),
            wss=bool(self.get(LISTENER_WSS, d.wss)), wss_port=int(self.get(LISTENER_WSS_PORT, d.wss_port)),
            mdns=bool(self.get(LISTENER_MDNS, d.mdns)),
            cert_file=path(TLS_CERT_FILE), key_file=path(TLS_KEY_FILE), client_ca_file=path(TLS_CLIENT_CA_FILE),
        )

    def set_listener_enabled(self, kind: str, enabled: bool) -> None:
        """Switch the `kind` (tcp, tls, ws, wss) listener on or off (from the next broker start)."""
        keys = {"tcp": LISTENER_TCP, "tls": LISTENER_TLS, "ws": LISTENER_WS, "wss": LISTENER_WSS}
        if kind not in keys:
            raise ValidationError(f"no listener kind {kind!r} (tcp, tls, ws or wss)")
        self.set(keys[kind], bool(enabled))

    def set_mdns(self, enabled: bool) -> None:
        """Advertise the broker on the network (mDNS/DNS-SD) while it listens beyond loopback, or not."""
        self.set(LISTENER_MDNS, bool(enabled))

    def set_listener_port(self, kind: str, port: int) -> None:
        keys = {"tcp": LISTENER_PORT, "tls": LISTENER_TLS_PORT, "ws": LISTENER_WS_PORT, "wss": LISTENER_WSS_PORT}
        if kind not in keys:
            raise ValidationError(f"no listener kind {kind!r} (tcp, tls, ws or wss)")
        self.set(keys[kind], validate_port(port))

    def set_tls_file(self, which: str, path: str | None) -> None:
        """`which`: cert_file, key_file or client_ca_file; an empty path or None clears it."""
        keys = {"cert_file": TLS_CERT_FILE, "key_file": TLS_KEY_FILE, "client_ca_file": TLS_CLIENT_CA_FILE}
        if which not in keys:
            raise ValidationError(f"no TLS setting {which!r} (cert_file, key_file or client_ca_file)")
        self.set(keys[which], str(Path(path).expanduser().resolve()) if path else None)

    # -- the external HTTP service -------------------------------------------------------------

    def external(self) -> ExternalSettings:
        data = self.get(EXTERNAL) or {}
        defaults = ExternalSettings()
        return ExternalSettings(
            url=str(data.get("url", defaults.url)), user_route=str(data.get("user_route", defaults.user_route)),
            acl_route=str(data.get("acl_route", defaults.acl_route)),
            timeout=float(data.get("timeout", defaults.timeout)),
            cache_seconds=int(data.get("cache_seconds", defaults.cache_seconds)),
            headers=tuple((str(n), str(v)) for n, v in data.get("headers", ())),
            enabled=bool(data.get("enabled", defaults.enabled)))

    def set_external(self, settings: ExternalSettings) -> None:
        validate(settings)
        self.set(EXTERNAL, {"url": settings.url, "user_route": settings.user_route, "acl_route": settings.acl_route,
                            "timeout": settings.timeout, "cache_seconds": settings.cache_seconds,
                            "headers": [list(h) for h in settings.headers], "enabled": settings.enabled})

    def flush_external(self) -> None:
        """Empty the external service's cache in every process (a settings change, which the instance sees)."""
        self.set(EXTERNAL_FLUSH, time.time())

    # -- the login guard ---------------------------------------------------------------------------

    def guard(self) -> GuardSettings:
        defaults = GuardSettings()
        values = {}
        for item in fields(GuardSettings):
            default = getattr(defaults, item.name)
            values[item.name] = type(default)(self.get(GUARD_PREFIX + item.name, default))
        return GuardSettings(**values)

    def set_guard(self, settings: GuardSettings) -> None:
        """Applies at once (the running instance's guard follows the change)."""
        with self._store.write():
            for item in fields(GuardSettings):
                self.set(GUARD_PREFIX + item.name, getattr(settings, item.name))

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
            max_keepalive=int(self.get(MAX_KEEPALIVE, defaults.max_keepalive)),
            max_packet_size=int(self.get(MAX_PACKET_SIZE, defaults.max_packet_size)),
            max_subscriber_backlog_bytes=int(self.get(MAX_SUBSCRIBER_BACKLOG, defaults.max_subscriber_backlog_bytes)),
        )

    def set_session_limits(self, limits: SessionLimits) -> None:
        """Applies to sessions that connect after the next broker start."""
        with self._store.write():
            self.set(MAX_INFLIGHT, limits.max_inflight)
            self.set(MAX_QUEUED, limits.max_queued)
            self.set(MAX_SUBSCRIPTIONS_PER_PACKET, limits.max_subscriptions_per_packet)
            self.set(MAX_SUBSCRIPTIONS_PER_CLIENT, limits.max_subscriptions_per_client)
            self.set(MAX_INCOMING_QOS2_BYTES, limits.max_incoming_qos2_bytes)
            self.set(MAX_KEEPALIVE, limits.max_keepalive)
            self.set(MAX_PACKET_SIZE, limits.max_packet_size)
            self.set(MAX_SUBSCRIBER_BACKLOG, limits.max_subscriber_backlog_bytes)

    def broker_limits(self) -> BrokerLimits:
        defaults = BrokerLimits()
        return BrokerLimits(
            max_connections=int(self.get(MAX_CONNECTIONS, defaults.max_connections)),
            max_connections_per_address=int(self.get(MAX_CONNECTIONS_PER_ADDRESS,
                                                     defaults.max_connections_per_address)),
            max_retained_messages=int(self.get(MAX_RETAINED_MESSAGES, defaults.max_retained_messages)),
            max_retained_bytes=int(self.get(MAX_RETAINED_BYTES, defaults.max_retained_bytes)),
        )

    def set_broker_limits(self, limits: BrokerLimits) -> None:
        """Applies from the next broker start."""
        with self._store.write():
            self.set(MAX_CONNECTIONS, limits.max_connections)
            self.set(MAX_CONNECTIONS_PER_ADDRESS, limits.max_connections_per_address)
            self.set(MAX_RETAINED_MESSAGES, limits.max_retained_messages)
            self.set(MAX_RETAINED_BYTES, limits.max_retained_bytes)

    def admission_limits(self) -> AdmissionLimits:
        defaults = AdmissionLimits()
        return AdmissionLimits(int(self.get(MAX_PENDING_PER_ADDRESS, defaults.max_pending_per_address)),
                               int(self.get(MAX_PENDING, defaults.max_pending)))

    def set_admission_limits(self, limits: AdmissionLimits) -> None:
        """Applies from the next broker start."""
        with self._store.write():
            self.set(MAX_PENDING_PER_ADDRESS, limits.max_pending_per_address)
            self.set(MAX_PENDING, limits.max_pending)

    # -- persistence ------------------------------------------------------------------------------

    def persistence(self) -> bool:
        """Whether retained messages and kept sessions are written to survive a restart (default on)."""
        return bool(self.get(PERSISTENCE, True))

    def set_persistence(self, enabled: bool) -> None:
        """Applies from the next broker start; off also deletes what was kept."""
        self.set(PERSISTENCE, bool(enabled))

    # -- the Auth log -------------------------------------------------------------------------------

    def auth_log_max_bytes(self) -> int:
        """How large the data file may grow with the Auth log before its oldest (noise first) entries go."""
        return int(self.get(AUTH_LOG_MAX_BYTES, DEFAULT_AUTH_LOG_MAX_BYTES))

    def set_auth_log_max_bytes(self, max_bytes: int) -> None:
        if max_bytes < MIN_AUTH_LOG_MAX_BYTES:
            raise ValidationError(f"auth_log.max_bytes must be at least {MIN_AUTH_LOG_MAX_BYTES:,}, not {max_bytes:,}")
        self.set(AUTH_LOG_MAX_BYTES, max_bytes)

    # -- the auth service (another broker asks mqttdesk) ---------------------------------------------

    def auth_service_secret(self) -> str:
        """The shared secret callers of the auth service present; made once, on first use."""
        secret = self.get(AUTH_SERVICE_SECRET)
        if not secret:
            secret = secrets.token_urlsafe(24)
            self.set(AUTH_SERVICE_SECRET, secret)
        return str(secret)

    def auth_service_address(self) -> tuple[str, int]:
        return (str(self.get(AUTH_SERVICE_HOST, DEFAULT_HOST)),
                int(self.get(AUTH_SERVICE_PORT, DEFAULT_AUTH_SERVICE_PORT)))

    def set_auth_service_address(self, host: str, port: int) -> None:
        host, port = validate_host(host), validate_port(port)
        with self._store.write():
            self.set(AUTH_SERVICE_HOST, host)
            self.set(AUTH_SERVICE_PORT, port)

    def auth_service_enabled(self) -> bool:
        return bool(self.get(AUTH_SERVICE_ON, False))

    def set_auth_service_enabled(self, enabled: bool) -> None:
        self.set(AUTH_SERVICE_ON, enabled)

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
