"""`config show|set`: the settings the window's top bar changes, scriptable."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import fields, replace
from typing import Any

from mqttdesk.cli_output import print_json
from mqttdesk.commands.common import Context, Subparsers
from mqttdesk.core.errors import ValidationError
from mqttdesk.core.guard import GuardSettings
from mqttdesk.store.db import Store


def _set_host(store: Store, value: str) -> None:
    store.settings.set_listener(value, store.settings.listener()[1])


def _set_port(store: Store, value: str) -> None:
    store.settings.set_listener(store.settings.listener()[0], _integer("listen.port", value))


# `config set` key -> the SessionLimits field it changes
LIMIT_KEYS = {
    "max_inflight_messages": "max_inflight",
    "max_queued_messages": "max_queued",
    "max_subscriptions_per_packet": "max_subscriptions_per_packet",
    "max_subscriptions_per_client": "max_subscriptions_per_client",
    "max_incoming_qos2_bytes": "max_incoming_qos2_bytes",
    "max_keepalive": "max_keepalive",
    "max_packet_size": "max_packet_size",
    "max_subscriber_backlog_bytes": "max_subscriber_backlog_bytes",
}
# `config set` key -> the BrokerLimits field it changes (0: no limit)
BROKER_LIMIT_KEYS = {
    "max_connections": "max_connections",
    "max_connections_per_address": "max_connections_per_address",
    "max_retained_messages": "max_retained_messages",
    "max_retained_bytes": "max_retained_bytes",
}


def _limit_setter(key: str) -> Callable[[Store, str], None]:
    def set_limit(store: Store, value: str) -> None:
        limits = store.settings.session_limits()
        store.settings.set_session_limits(replace(limits, **{LIMIT_KEYS[key]: _integer(key, value)}))
    return set_limit


def _broker_limit_setter(key: str) -> Callable[[Store, str], None]:
    def set_limit(store: Store, value: str) -> None:
        limits = store.settings.broker_limits()
        store.settings.set_broker_limits(replace(limits, **{BROKER_LIMIT_KEYS[key]: _integer(key, value)}))
    return set_limit


def _switch(kind: str) -> Callable[[Store, str], None]:
    def set_switch(store: Store, value: str) -> None:
        store.settings.set_listener_enabled(kind, _boolean(f"listen.{kind}", value))
    return set_switch


def _set_mdns(store: Store, value: str) -> None:
    store.settings.set_mdns(_boolean("listen.mdns", value))


def _port(kind: str) -> Callable[[Store, str], None]:
    def set_port(store: Store, value: str) -> None:
        store.settings.set_listener_port(kind, _integer(f"listen.{kind}_port", value))
    return set_port


def _tls_file(which: str) -> Callable[[Store, str], None]:
    def set_file(store: Store, value: str) -> None:
        store.settings.set_tls_file(which, value.strip() or None)
    return set_file


def _boolean(key: str, value: str) -> bool:
    words = {"on": True, "true": True, "yes": True, "1": True, "off": False, "false": False, "no": False, "0": False}
    try:
        return words[value.strip().lower()]
    except KeyError:
        raise ValidationError(f"{key} must be on or off (true or false), not {value!r}") from None


def _set_auth_log_bytes(store: Store, value: str) -> None:
    store.settings.set_auth_log_max_bytes(_integer("auth_log.max_bytes", value))


def _set_persistence(store: Store, value: str) -> None:
    store.settings.set_persistence(_boolean("persistence", value))


def _set_pending_per_address(store: Store, value: str) -> None:
    limits = store.settings.admission_limits()
    store.settings.set_admission_limits(
        replace(limits, max_pending_per_address=_integer("max_pending_per_address", value)))


def _set_pending(store: Store, value: str) -> None:
    limits = store.settings.admission_limits()
    store.settings.set_admission_limits(replace(limits, max_pending=_integer("max_pending_connections", value)))


def _guard_setter(name: str) -> Callable[[Store, str], None]:
    """`guard.NAME`: a field of the login guard's settings (a whole number, seconds, or on/off)."""
    def set_guard(store: Store, value: str) -> None:
        key, default = f"guard.{name}", getattr(GuardSettings(), name)
        parsed: Any
        if isinstance(default, bool):
            parsed = _boolean(key, value)
        elif isinstance(default, int):
            parsed = _integer(key, value)
        else:
            try:
                parsed = float(value)
            except ValueError:
                raise ValidationError(f"{key} must be a number of seconds, not {value!r}") from None
        store.settings.set_guard(replace(store.settings.guard(), **{name: parsed}))
    return set_guard


GUARD_KEYS = tuple(f"guard.{item.name}" for item in fields(GuardSettings))


def _integer(key: str, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ValidationError(f"{key} must be a whole number, not {value!r}") from None


SETTERS: dict[str, Callable[[Store, str], None]] = {
    "listen.host": _set_host,
    "listen.port": _set_port,
    **{f"listen.{kind}": _switch(kind) for kind in ("tcp", "tls", "ws", "wss")},
    **{f"listen.{kind}_port": _port(kind) for kind in ("tls", "ws", "wss")},
    "listen.mdns": _set_mdns,
    **{f"tls.{which}": _tls_file(which) for which in ("cert_file", "key_file", "client_ca_file")},
    **{key: _limit_setter(key) for key in LIMIT_KEYS},
    **{key: _broker_limit_setter(key) for key in BROKER_LIMIT_KEYS},
    "max_pending_per_address": _set_pending_per_address,
    "max_pending_connections": _set_pending,
    "auth_log.max_bytes": _set_auth_log_bytes,
    **{key: _guard_setter(key.removeprefix("guard.")) for key in GUARD_KEYS},
    "persistence": _set_persistence,
}
# read at every Auth log write, or followed by the running instance's login guard, not only when the broker starts
APPLIES_AT_ONCE = {"auth_log.max_bytes", *GUARD_KEYS}


def register(sub: Subparsers) -> None:
    config = sub.add_parser("config", help="show or change settings").add_subparsers(dest="verb", required=True)
    config.add_parser("show", help="all settings").add_argument("--json", action="store_true")
    setter = config.add_parser("set", help="change a setting (applies at the next broker start)")
    setter.add_argument("key", choices=sorted(SETTERS))
    setter.add_argument("value")
    for parser in config.choices.values():
        parser.set_defaults(handler=config_command)


def current(store: Store) -> dict[str, object]:
    listeners = store.settings.listeners()
    limits = store.settings.session_limits()
    admission = store.settings.admission_limits()
    broker = store.settings.broker_limits()
    anonymous = store.settings.anonymous()
    guard = store.settings.guard()
    return {"listen.host": listeners.host, "listen.port": listeners.tcp_port,
            "listen.tcp": listeners.tcp,
            "listen.tls": listeners.tls, "listen.tls_port": listeners.tls_port,
            "listen.ws": listeners.ws, "listen.ws_port": listeners.ws_port,
            "listen.wss": listeners.wss, "listen.wss_port": listeners.wss_port,
            "listen.mdns": listeners.mdns,
            "tls.cert_file": listeners.cert_file, "tls.key_file": listeners.key_file,
            "tls.client_ca_file": listeners.client_ca_file,
            **{key: getattr(limits, field) for key, field in LIMIT_KEYS.items()},
            "max_pending_per_address": admission.max_pending_per_address,
            "max_pending_connections": admission.max_pending,
            **{key: getattr(broker, field) for key, field in BROKER_LIMIT_KEYS.items()},
            "auth_log.max_bytes": store.settings.auth_log_max_bytes(),
            **{f"guard.{item.name}": getattr(guard, item.name) for item in fields(GuardSettings)},
            "persistence": store.settings.persistence(),
            "anonymous": anonymous.mode, "anonymous.roles": list(anonymous.roles)}


def config_command(args: argparse.Namespace, context: Context) -> int:
    store = context.store
    if args.verb == "set":
        SETTERS[args.key](store, args.value)
    values = current(store)
    if args.verb == "show" and args.json:
        print_json(values)
    elif args.verb == "set":
        when = "applies at once" if args.key in APPLIES_AT_ONCE else "applies at the next broker start"
        print(f"{args.key} = {_shown(values[args.key])} ({when})")
    else:
        width = max(len(key) for key in values)
        for key, value in values.items():
            print(f"{key.ljust(width)}  {_shown(value)}")
    return 0


def _shown(value: object) -> object:
    if isinstance(value, bool):
        return "on" if value else "off"
    if value is None:
        return "(not set)"
    return ", ".join(value) if isinstance(value, list) else value
