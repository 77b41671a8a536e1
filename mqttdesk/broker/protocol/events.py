"""What a `ServerProtocol` reports besides the packets it received (which are reported as the packet values)."""

from __future__ import annotations

from dataclasses import dataclass

from mqttdesk.broker.protocol.packets import (
    Auth,
    Connect,
    Disconnect,
    PingReq,
    PubAck,
    PubComp,
    Publish,
    PubRec,
    PubRel,
    Subscribe,
    Unsubscribe,
)


@dataclass(frozen=True, slots=True)
class ProtocolErrorOccurred:
    """The client broke the protocol; the connection is over (close it once `data_to_send` is written).

    `protocol_version`, `client_id` and `username` are what was decoded of the CONNECT before the fault, if anything.
    """

    reason_code: int
    text: str
    protocol_version: int | None = None
    client_id: str | None = None
    username: str | None = None


@dataclass(frozen=True, slots=True)
class KeepAliveTimedOut:
    """Nothing arrived for `idle` seconds, more than `limit` (1.5 × keep-alive, or the CONNECT timeout)."""

    idle: float
    limit: float

    def describe(self) -> str:
        """The sentence for the Auth log and (MQTT 5) the DISCONNECT's Reason String: one wording for both."""
        return f"nothing received for {self.idle:.1f} s (keep-alive {self.limit / 1.5:g} s, limit 1.5×)"


@dataclass(frozen=True, slots=True)
class ConnectionClosed:
    """The peer closed its side; `disconnect` is the DISCONNECT it sent first, if any (no will unless 0x04)."""

    disconnect: Disconnect | None = None


Event = (Connect | Publish | PubAck | PubRec | PubRel | PubComp | Subscribe | Unsubscribe | PingReq | Disconnect | Auth
         | ProtocolErrorOccurred | KeepAliveTimedOut | ConnectionClosed)
