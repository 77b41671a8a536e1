"""What a connection snippet is made of, read from the store: who a name is, and where its devices connect to.

A name is looked up as a user, a bootstrap credential, a registered device (by clientId) and a token issuer, in that
order (`kind` picks one). The TLS fingerprint is that of the server certificate the TLS listener serves: the files
of `tls.cert_file` when set, else the built-in CA's server certificate. The Tasmota role is created here too, its
rules in one transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mqttdesk.core.errors import NotFoundError, ValidationError
from mqttdesk.core.snippets import Credential, Endpoint
from mqttdesk.core.tasmota import CLIENT_ID_TOPIC, FLEET_CLIENT_ID, RoleRule, tasmota_role_rules
from mqttdesk.store.settings_repo import is_loopback

if TYPE_CHECKING:
    from cryptography import x509

    from mqttdesk.store.db import Store

KINDS = ("user", "bootstrap", "device", "token")
WILDCARD_HOSTS = ("0.0.0.0", "::", "[::]")


@dataclass(frozen=True, slots=True)
class Reachability:
    """Whether a device on the network can reach the broker as it is configured, and a sentence when not."""

    loopback_only: bool
    warning: str | None


def reachability(store: Store) -> Reachability:
    host = store.settings.listeners().host
    if is_loopback(host):
        return Reachability(True, f"the broker listens on {host} only: a device on the network cannot reach it "
                                  "(its console shows rc -2). Listen on the network (0.0.0.0) to connect devices.")
    return Reachability(False, None)


def credential_for(store: Store, name: str, *, kind: str | None = None, password: str | None = None,
                   topic: str | None = None) -> Credential:
    """The credential `name` (of `kind`, or the first kind that has it); `password` only as typed now."""
    if kind is not None and kind not in KINDS:
        raise ValidationError(f"no credential kind {kind!r} ({', '.join(KINDS)})")
    for each in (kind,) if kind else KINDS:
        found = _lookup(store, each, name, password, topic)
        if found is not None:
            return found
    raise NotFoundError(f"no user, bootstrap credential, device or token issuer named '{name}'")


def _lookup(store: Store, kind: str | None, name: str, password: str | None, topic: str | None) -> Credential | None:
    if kind == "user" and store.users.find(name) is not None:
        return Credential("user", name, name, topic or FLEET_CLIENT_ID, None, password)
    if kind == "bootstrap" and store.bootstraps.find(name) is not None:
        return Credential("bootstrap", name, name, topic or FLEET_CLIENT_ID, None, password)
    if kind == "device":
        device = store.devices.find(name)
        if device is not None:
            return Credential("device", name, device.username, topic or device.client_id, device.client_id, password)
    if kind == "token":
        issuers = {issuer.name: issuer for issuer in store.token_issuers.list()}
        if name in issuers:
            return Credential("token", name, None, topic or FLEET_CLIENT_ID, None, password)
    return None


def server_certificate(store: Store) -> x509.Certificate | None:
    """Loaded on demand: the CLI's other commands start without importing `cryptography`."""
    from cryptography import x509

    cert_file = store.settings.listeners().cert_file
    if cert_file:
        try:
            return x509.load_pem_x509_certificate(Path(cert_file).read_bytes())
        except (OSError, ValueError):
            return None
    return store.pki.server_certificate() if store.pki.exists() else None


def endpoint_for(store: Store, host: str | None = None, *, tls: bool | None = None,
                 listening: Mapping[str, int] | None = None) -> Endpoint:
    """Where a device connects: `host` (a LAN address), TLS when asked (default: when only TLS is on).

    `listening` (listener kind -> port) is what a running broker is bound to: it wins over the stored settings,
    which may say port 0 ("pick one") or differ for this run.
    """
    listeners = store.settings.listeners()
    ports = dict(listening) if listening is not None else {
        kind: port for kind, on, port in (("tcp", listeners.tcp, listeners.tcp_port),
                                          ("tls", listeners.tls, listeners.tls_port),
                                          ("ws", listeners.ws, listeners.ws_port),
                                          ("wss", listeners.wss, listeners.wss_port)) if on}
    use_tls = tls if tls is not None else ("tls" in ports and "tcp" not in ports)
    if use_tls and "tls" not in ports:
        raise ValidationError("the TLS listener is off (mqttdesk config set listen.tls on)")
    if not use_tls and "tcp" not in ports:
        raise ValidationError("the plain MQTT listener is off: connect over TLS, or switch it on (listen.tcp on)")
    shown = host or listeners.host
    if shown in WILDCARD_HOSTS:
        raise ValidationError("name the address devices use to reach this machine (--host, e.g. a LAN address)")
    fingerprint = None
    if use_tls:
        from mqttdesk.pki.fingerprints import tasmota_fingerprint

        certificate = server_certificate(store)
        if certificate is not None:
            try:
                fingerprint = tasmota_fingerprint(certificate)
            except ValidationError:
                fingerprint = None
    return Endpoint(shown, ports["tls" if use_tls else "tcp"], use_tls, fingerprint, ports.get("ws"),
                    ports.get("wss"))

def create_tasmota_role(store: Store, name: str, topic: str = CLIENT_ID_TOPIC, *,
                        discovery: bool = False) -> tuple[RoleRule, ...]:
    """Add role `name` with the rules a Tasmota device needs (`tasmota_role_rules`), in one transaction."""
    rules = tasmota_role_rules(topic, discovery=discovery)
    with store.write():
        store.roles.add(name)
        for rule in rules:
            store.roles.allow(name, rule.topic_filter, rule.permission)
    return rules
