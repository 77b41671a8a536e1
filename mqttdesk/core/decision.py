"""The decision value every front-end shares: the broker enforces it, the Auth log stores it, the explainer shows it."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from enum import StrEnum

from mqttdesk.core.acl import Rule
from mqttdesk.core.model import CredentialRef, Method
from mqttdesk.core.reasons import Reason, ReasonCode, reason_string
from mqttdesk.core.values import value_record

MQTT_311 = "3.1.1"
MQTT_5 = "5"
PROTOCOLS = (MQTT_311, MQTT_5)  # how the Auth log, the Clients view and `clients --json` name a protocol version


def protocol_label(protocol: str | None) -> str | None:
    """"MQTT 5", "MQTT 3.1.1"; None when the protocol is not known (an entry logged before it was recorded)."""
    return f"MQTT {protocol}" if protocol else None


class Kind(StrEnum):
    CONNECT = "CONNECT"
    SUBSCRIBE = "SUBSCRIBE"
    PUBLISH = "PUBLISH"
    RECEIVE = "RECEIVE"  # a message about to be delivered to a subscriber
    DISCONNECT = "DISCONNECT"
    KICK = "KICK"


@dataclass(frozen=True, slots=True)
class PeerCertificate:
    """The client certificate a TLS connection presented, verified by the handshake against the CAs we trust."""

    cn: str | None  # the subject's common name: the user it logs in as
    serial: str  # hexadecimal, lower case (as `cert list` shows it)
    issuer: str  # RFC 4514
    not_after: float  # Unix time
    fingerprint_sha256: str = ""

    def describe(self) -> str:
        name = f"CN '{self.cn}'" if self.cn else "no CN"
        return f"client certificate {name} (serial {self.serial}, issued by {self.issuer})"


@value_record
class ConnectRequest:
    """The CONNECT fields that matter for authentication. The password never leaves this object."""

    client_id: str
    username: str | None
    password: str | None = field(default=None, repr=False)
    address: str | None = None
    clean_session: bool = True
    client_id_assigned: bool = False  # the client sent an empty id and the broker made one up
    will_topic: str | None = None  # a will is a publish on the client's behalf: it must be allowed at CONNECT
    # how the CONNECT came in (plain strings: the broker's transport facts)
    listener: str | None = None  # the listener's name, e.g. "tls"
    transport: str | None = None  # tcp | tls | ws | wss
    tls_version: str | None = None  # e.g. "TLSv1.3"
    peer_certificate_subject: str | None = None  # the client's TLS certificate, when it presented one
    listener_address: str | None = None  # where that listener listens, e.g. "127.0.0.1:8883"
    protocol: str = MQTT_311  # "3.1.1" or "5" (`PROTOCOLS`)
    authentication_method: str | None = None  # MQTT 5 enhanced authentication; its data is never kept here
    certificate: PeerCertificate | None = None  # the verified client certificate of a TLS connection, if any

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"protocol must be one of {', '.join(PROTOCOLS)}, not {self.protocol!r}")

    def transport_step(self) -> str | None:
        """E.g. "over TLS 1.3 on listener 'tls' (127.0.0.1:8883)"; None when the transport is not known."""
        if self.transport is None:
            return None
        return _transport_words(self.transport, self.tls_version, self.listener, self.listener_address,
                                self.peer_certificate_subject)


_OVER = {"tcp": "over TCP", "tls": "over TLS", "ws": "over WebSocket", "wss": "over WebSocket over TLS"}


@functools.lru_cache(maxsize=256)  # the same few listeners for every CONNECT; a certificate subject varies more
def _transport_words(transport: str, tls_version: str | None, listener: str | None, listener_address: str | None,
                     peer_certificate_subject: str | None) -> str:
    words = _OVER.get(transport, f"over {transport}")
    if tls_version:
        words += f" ({tls_version.replace('TLSv', 'TLS ')})" if transport == "wss" else \
            f" {tls_version.replace('TLSv', '')}"
    if listener:
        words += f" on listener '{listener}'"
    if listener_address:
        words += f" ({listener_address})"
    if peer_certificate_subject:
        words += f", client certificate {peer_certificate_subject}"
    return words


@dataclass(frozen=True, slots=True)
class SessionHolder:
    """A session that holds a clientId, as far as a CONNECT decision needs to know.

    Online: a connection is open now. Offline: a persistent session (clean session 0) kept for its client, with
    its subscriptions and queued messages; it belongs to the identity that created it and no other may take it.
    """

    client_id: str
    username: str | None
    credential: CredentialRef
    address: str | None
    connected_since: float
    offline_since: float | None = None  # None: connected now

    @property
    def online(self) -> bool:
        return self.offline_since is None


@value_record
class Grant:
    """What an accepted CONNECT admits: the topic checks of the session are made against it."""

    method: Method
    credential: CredentialRef
    username: str | None
    client_id: str
    tenant: str | None = None
    virtual: bool = False  # a bootstrap device that is not registered: its session never outlives the connection
    registers: str | None = None  # this CONNECT registers the device, through the bootstrap credential named here
    certificate_serial: str | None = None  # logged in by this client certificate (method certificate)
    valid_until: float | None = None  # the session ends then (Unix time): its certificate or token expires
    # rules of this session alone, after its roles' (a token's `acl` claim); they end with the session
    rules: tuple[Rule, ...] = ()
    verified_with: str | None = None  # what the credential was verified against (a token issuer's key fingerprint)


@dataclass(frozen=True, slots=True)
class SourceAnswer:
    """What a source that is not local (tokens, the external HTTP service) says about a CONNECT whose username no
    local source knows: a grant to admit, or a refusal. `decide_connect` applies the common rules to a grant."""

    method: Method
    steps: tuple[str, ...]
    refusal: Reason | None = None
    grant: Grant | None = None
    text: str = ""  # the acceptance sentence, e.g. "token of issuer 'acme' for 'alice' verified (HS256)"
    topics_elsewhere: bool = False  # its topics (the will's too) are decided by the source, not by roles


@value_record
class Decision:
    kind: Kind
    allowed: bool
    reason: Reason
    client_id: str
    username: str | None = None
    method: Method | None = None
    topic: str | None = None
    address: str | None = None
    steps: tuple[str, ...] = ()
    connack: int | None = None  # CONNECT only
    grant: Grant | None = None  # accepted CONNECT only
    takes_over: SessionHolder | None = None  # accepted CONNECT replacing a live session of the same credential
    held_by: SessionHolder | None = None  # refused CONNECT: the session that holds the clientId
    rule: Rule | None = None  # topic decisions: the rule that decided (None: nothing applied, or no roles)
    roles: tuple[str, ...] | None = None  # topic decisions: the roles consulted (None: unrestricted anonymous)
    protocol: str | None = None  # "3.1.1" or "5": a CONNECT's own; topic decisions and ends take the session's

    @property
    def reason_code(self) -> ReasonCode:
        return self.reason.code

    def reason_string(self) -> str:
        """The sentence an MQTT 5 client gets as its Reason String: the Auth log's words, safe for the wire."""
        return reason_string(self.reason.text, (self.client_id, self.username, self.topic, self.address))


def session_ended(
    kind: Kind,
    code: ReasonCode,
    text: str,
    *,
    client_id: str,
    username: str | None,
    method: Method | None,
    address: str | None,
    forced: bool,
    protocol: str | None = None,
) -> Decision:
    """A DISCONNECT or KICK entry for the Auth log; `forced` ends (kick, credential change, take-over, protocol error)
    show as refusals. The log tells a protocol error, the client's own doing, from the others by its reason code.
    `protocol` is the session's ("3.1.1" or "5")."""
    return Decision(
        kind=kind,
        allowed=not forced,
        reason=Reason(code, text),
        client_id=client_id,
        username=username,
        method=method,
        address=address,
        steps=(text,),
        protocol=protocol,
    )
