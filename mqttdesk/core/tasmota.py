"""Tasmota's side of things: the topic scheme, the role a Tasmota device needs, and what its console's codes mean.

Tasmota's default scheme is `FullTopic %prefix%/%topic%/` with the prefixes `cmnd` (commands it reads), `stat`
(answers it writes, `stat/<topic>/RESULT`) and `tele` (telemetry it writes, `tele/<topic>/STATE`, `INFO1..3`, and
its will `tele/<topic>/LWT`, retained `Online`/`Offline`). Its default clientId is `DVES_%06X` (the last three bytes
of its MAC); its group topic is `tasmotas`; native discovery goes to `tasmota/discovery/<MAC>/...`, the older Home
Assistant discovery to `homeassistant/...`.

The console codes are those of the PubSubClient library Tasmota uses (`MQT: Connect failed to H:P, rc N`) and of
its BearSSL TLS layer (`TLS connection error: N`). mqttdesk answers CONNACK 4 for a wrong or missing password or an
unknown user and 5 for a credential that may not connect (Mosquitto answers 5 for both), so the two codes point
to different fixes here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mqttdesk.core.acl import Permission
from mqttdesk.core.reasons import ReasonCode, connack_code

TASMOTA_CLIENT_ID_PREFIX = "DVES_"
FLEET_CLIENT_ID = "DVES_%06X"  # Tasmota expands %06X to the last 3 MAC bytes: unique per device
FULL_TOPIC = "%prefix%/%topic%/"
GROUP_TOPIC = "tasmotas"
CLIENT_ID_TOPIC = "%c"  # in a rule: the device's clientId, so one role serves the whole fleet


def is_tasmota_client_id(client_id: str) -> bool:
    return client_id.startswith(TASMOTA_CLIENT_ID_PREFIX)


@dataclass(frozen=True, slots=True)
class RoleRule:
    """One allow rule of the Tasmota role, with why the device needs it (shown before the role is created)."""

    topic_filter: str
    permission: Permission
    why: str


def tasmota_role_rules(topic: str = CLIENT_ID_TOPIC, *, discovery: bool = False) -> tuple[RoleRule, ...]:
    """The rules a Tasmota device needs when its Topic is `topic` (`%c`: its clientId, i.e. `Topic DVES_%06X`).

    Reading `cmnd/...` (its commands, and the group topic's), writing `stat/...` and `tele/...` (which holds its
    will `tele/<topic>/LWT`); with `discovery`, writing the Tasmota and Home Assistant discovery topics too.
    """
    topic = topic.strip() or CLIENT_ID_TOPIC
    if any(c in topic for c in "+#/"):
        raise ValueError(f"a Tasmota topic is one topic level without wildcards, not {topic!r}")
    rules = [
        RoleRule(f"cmnd/{topic}/#", Permission.READ, "its commands (cmnd/<topic>/Power, Status, Restart, ...)"),
        RoleRule(f"cmnd/{GROUP_TOPIC}/#", Permission.READ, "commands sent to the whole fleet (its group topic)"),
        RoleRule(f"stat/{topic}/#", Permission.WRITE, "its answers (stat/<topic>/RESULT, POWER)"),
        RoleRule(f"tele/{topic}/#", Permission.WRITE,
                 "telemetry (STATE, SENSOR, INFO1-3) and its will tele/<topic>/LWT (Online/Offline)"),
    ]
    if discovery:
        rules.append(RoleRule("tasmota/discovery/#", Permission.WRITE, "Tasmota's native discovery for Home Assistant"))
        rules.append(RoleRule("homeassistant/#", Permission.WRITE, "Home Assistant MQTT discovery configs"))
    return tuple(rules)


# -- what the Tasmota console shows ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ConsoleCode:
    shown: str  # what the console says
    meaning: str
    causes: tuple[str, ...]  # the likely causes with mqttdesk, most likely first


RC_CODES: dict[int, ConsoleCode] = {
    -4: ConsoleCode("rc -4", "the broker did not answer the CONNECT in time",
                    ("the broker is busy or the network drops packets",)),
    -3: ConsoleCode("rc -3", "the connection was lost",
                    ("the broker stopped, kicked the device or the Wi-Fi dropped",)),
    -2: ConsoleCode("rc -2", "the device cannot reach the broker (no MQTT connection was made)", (
        "the broker listens on loopback (127.0.0.1) only: a device on the network cannot reach it — listen on "
        "0.0.0.0 or a LAN address",
        "a firewall on this machine blocks the port",
        "a wrong MqttHost or MqttPort (the port of the TLS listener for TLS, of the plain one otherwise)",
        "the TLS handshake failed: then the Auth log has a tls-handshake-failed entry from the device's address",
    )),
    -1: ConsoleCode("rc -1", "disconnected", ("the device is not connected (yet)",)),
    1: ConsoleCode("rc 1", "the broker refused the protocol version", ("a very old firmware speaking MQTT 3.1",)),
    2: ConsoleCode("rc 2", "the broker refused the clientId", (
        "another credential is connected with the same clientId (client-id-in-use in the Auth log)",
        "the clientId is reserved for another user, or the device was suspended under that clientId",
    )),
    3: ConsoleCode("rc 3", "the broker is unavailable", ("the external auth service did not answer",)),
    4: ConsoleCode("rc 4", "bad username or password", (
        "MqttUser is not a user, bootstrap credential or registered device (unknown-user)",
        "MqttPassword is wrong or empty (bad-password, missing-password)",
    )),
    5: ConsoleCode("rc 5", "not authorised", (
        "the credential is suspended or revoked",
        "no username was sent and anonymous access is off",
        "its will topic tele/<topic>/LWT may not be published: give it the Tasmota role",
    )),
}

TLS_CODES: dict[int, ConsoleCode] = {
    1: ConsoleCode("TLS connection error: 1", "the server's fingerprint is not the one the device expects", (
        "MqttFingerprint1 is not the broker's: copy it from the server certificate (mqttdesk server-cert show)",
        "the server certificate got a new key (a new CA or imported files): every device needs the new fingerprint",
    )),
    296: ConsoleCode("TLS connection error: 296", "the TLS handshake failed", (
        "the server key is not RSA of at most 2048 bits (ESP8266 Tasmota speaks TLS 1.2 with "
        "ECDHE-RSA-AES128-GCM-SHA256 only)",
        "plain MQTT on the TLS port, or TLS on the plain port",
    )),
    304: ConsoleCode("TLS connection error: 304", "the device does not trust the server's certificate authority", (
        "without SetOption132 1 Tasmota trusts only its built-in CAs: set SetOption132 1 and MqttFingerprint1",
    )),
}

_RC = re.compile(r"\brc\s*[=:]?\s*(-?\d+)", re.IGNORECASE)
_TLS = re.compile(r"TLS\s+connection\s+error\s*:?\s*(\d+)", re.IGNORECASE)


def explain_console_line(line: str) -> ConsoleCode | None:
    """What a Tasmota console line (`MQT: Connect failed to H:P, rc 4`, `TLS connection error: 296`) means."""
    found = _TLS.search(line)
    if found:
        return TLS_CODES.get(int(found.group(1)))
    found = _RC.search(line)
    if found:
        return RC_CODES.get(int(found.group(1)))
    return None


def console_line_for(reason_code: str, allowed: bool) -> str | None:
    """What the console of a Tasmota device shows for a CONNECT decided with this reason (the Auth log's hint)."""
    if allowed:
        return None
    try:
        code = ReasonCode(reason_code)
    except ValueError:
        return None
    if code is ReasonCode.TLS_HANDSHAKE_FAILED:
        return ("rc -2 (no CONNACK: the handshake failed), with TLS connection error: 1 for a wrong fingerprint or "
                "296 for a failed handshake")
    rc = connack_code(code, False)
    known = RC_CODES.get(rc)
    return f"rc {rc} ({known.meaning})" if known else f"rc {rc}"
