"""Limits of the broker (settings): per-client delivery limits with Mosquitto's defaults, bounds on what one
client may make the broker hold or do in one go (Mosquitto has none of these; ours are generous for real clients),
how many connections may wait for their CONNECT, and bounds on the broker as a whole (connections, retained
messages).
"""

from __future__ import annotations

from dataclasses import dataclass

from mqttdesk.core.errors import ValidationError

MAX_LIMIT = 1_000_000
MIB = 1024 * 1024
MAX_INCOMING_QOS2_BYTES = 1024 * MIB
MQTT_MAX_PACKET_SIZE = 268_435_455  # the largest remaining length the protocol can express
MIN_PACKET_SIZE = 1024  # a CONNECT with a will and credentials must still fit
MIN_BACKLOG_BYTES = 64 * 1024
MAX_BACKLOG_BYTES = 1024 * MIB
MAX_RETAINED_BYTES = 64 * 1024 * MIB


@dataclass(frozen=True, slots=True)
class SessionLimits:
    max_inflight: int = 20  # unacknowledged QoS 1/2 messages per client (mosquitto's max_inflight_messages)
    max_queued: int = 1000  # further QoS 1/2 messages held per client, connected or away (max_queued_messages)
    # topic filters in one SUBSCRIBE or UNSUBSCRIBE; more is answered by closing the connection
    max_subscriptions_per_packet: int = 10_000
    # subscriptions one session may hold; filters beyond get SUBACK 0x80 (reason subscription-limit)
    max_subscriptions_per_client: int = 50_000
    # payload and topic bytes of QoS 2 messages received but not yet released (PUBREL); more closes the connection.
    # Two messages of the largest packet size the broker accepts (16 MiB).
    max_incoming_qos2_bytes: int = 32 * MIB
    # the longest keep-alive a client may ask for, as Mosquitto's max_keepalive: an MQTT 5 client asking for more (or
    # for none, 0) is told this one in the CONNACK (Server Keep Alive); a 3.1.1 client asking for more is refused
    # (it cannot be told). 65535, the protocol's maximum, leaves every client's own keep-alive alone.
    max_keepalive: int = 65535
    # the largest packet a client may send (announced as Maximum Packet Size to MQTT 5 clients); a larger one closes
    # the connection (MQTT 5: DISCONNECT 0x95, a CONNECT that large CONNACK 0x95)
    max_packet_size: int = 16 * MIB
    # bytes waiting to be written to one subscriber: beyond this a slow subscriber loses QoS 0 messages instead of
    # making the broker hold ever more for it (QoS 1/2 go to its queue, bounded by max_queued)
    max_subscriber_backlog_bytes: int = 8 * MIB

    def __post_init__(self) -> None:
        if not 1 <= self.max_inflight <= 65535:
            raise ValidationError(f"max in-flight messages must be between 1 and 65535, not {self.max_inflight}")
        if not 0 <= self.max_queued <= MAX_LIMIT:
            raise ValidationError(f"max queued messages must be between 0 and {MAX_LIMIT}, not {self.max_queued}")
        if not 1 <= self.max_subscriptions_per_packet <= MAX_LIMIT:
            raise ValidationError(f"max subscriptions per packet must be between 1 and {MAX_LIMIT}, "
                                  f"not {self.max_subscriptions_per_packet}")
        if not 1 <= self.max_subscriptions_per_client <= MAX_LIMIT:
            raise ValidationError(f"max subscriptions per client must be between 1 and {MAX_LIMIT}, "
                                  f"not {self.max_subscriptions_per_client}")
        if not 10 <= self.max_keepalive <= 65535:
            raise ValidationError(f"max keep-alive must be between 10 and 65535 seconds, not {self.max_keepalive}")
        if not MIB <= self.max_incoming_qos2_bytes <= MAX_INCOMING_QOS2_BYTES:
            raise ValidationError(f"max incoming QoS 2 bytes must be between {MIB} (1 MiB) and "
                                  f"{MAX_INCOMING_QOS2_BYTES} (1 GiB), not {self.max_incoming_qos2_bytes}")
        if not MIN_PACKET_SIZE <= self.max_packet_size <= MQTT_MAX_PACKET_SIZE:
            raise ValidationError(f"max packet size must be between {MIN_PACKET_SIZE} and {MQTT_MAX_PACKET_SIZE} "
                                  f"bytes, not {self.max_packet_size}")
        if not MIN_BACKLOG_BYTES <= self.max_subscriber_backlog_bytes <= MAX_BACKLOG_BYTES:
            raise ValidationError(f"max subscriber backlog must be between {MIN_BACKLOG_BYTES} (64 KiB) and "
                                  f"{MAX_BACKLOG_BYTES} (1 GiB) bytes, not {self.max_subscriber_backlog_bytes}")


@dataclass(frozen=True, slots=True)
class AdmissionLimits:
    """How many connections may wait for their CONNECT at once (each holds a file descriptor until it is read)."""

    max_pending_per_address: int = 32  # from one client address
    max_pending: int = 1000  # in all; the broker lowers it further to what the file-descriptor limit leaves

    def __post_init__(self) -> None:
        for what, value in (("max pending connections per address", self.max_pending_per_address),
                            ("max pending connections", self.max_pending)):
            if not 1 <= value <= MAX_LIMIT:
                raise ValidationError(f"{what} must be between 1 and {MAX_LIMIT}, not {value}")


@dataclass(frozen=True, slots=True)
class BrokerLimits:
    """Bounds on the broker as a whole; 0 is no limit (the file-descriptor limit and memory still are one).

    Connections are counted from the moment their CONNECT is read until they close: one over a limit gets CONNACK 3
    (MQTT 5: 0x97, quota exceeded) with the reason, and an Auth log entry. A retained message that would take the
    broker over `max_retained_messages` (a new topic) or `max_retained_bytes` (topics and payloads) is not kept; it is
    still delivered to the current subscribers.
    """

    max_connections: int = 10_000
    max_connections_per_address: int = 0
    max_retained_messages: int = 100_000
    max_retained_bytes: int = 256 * MIB

    def __post_init__(self) -> None:
        for what, value, most in (("max connections", self.max_connections, MAX_LIMIT),
                                  ("max connections per address", self.max_connections_per_address, MAX_LIMIT),
                                  ("max retained messages", self.max_retained_messages, 100 * MAX_LIMIT),
                                  ("max retained bytes", self.max_retained_bytes, MAX_RETAINED_BYTES)):
            if not 0 <= value <= most:
                raise ValidationError(f"{what} must be between 0 (no limit) and {most}, not {value}")
