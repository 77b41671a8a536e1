"""`ServerProtocol`: the state machine of one client connection on the server side, without any I/O.

Feed it what the socket read (`receive_data`, `receive_eof`), take what it decoded (`events_received`) and what to
write (`data_to_send`), and close the socket when `close_expected()` says so. The keep-alive is a deadline:
`next_deadline()` says when to call `handle_deadline()`. The broker answers packets with the `send_*` methods.

Life cycle: CONNECTING (until a CONNECT) -> AWAITING_CONNACK (no further packet is decoded until `send_connack`,
so nothing a client pipelines behind its CONNECT is acted on before the CONNECT is decided; with MQTT 5 enhanced
authentication AUTH and DISCONNECT are, and anything else is a protocol error [MQTT-3.1.2-30]) -> OPEN -> CLOSING
(a protocol error, a DISCONNECT either way, a refusing CONNACK, a keep-alive timeout: input is ignored) -> CLOSED.

A protocol error on an open connection is the last event of its read, behind the packets decoded before it: those
are real packets and the broker handles and answers them (PUBACK, SUBACK, PINGRESP ...). So input stops at once
(`close_expected()`), but the connection stays OPEN for those answers until the broker comes to the error event and
calls `send_error_disconnect()`, which queues the MQTT 5 DISCONNECT behind them; queuing it at the fault would put
it first and leave the answers unsent, as the client saw it before.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from enum import Enum

from mqttdesk.broker.protocol import encoder
from mqttdesk.broker.protocol import wire_format as wf
from mqttdesk.broker.protocol.decoder import (
    ConnectProgress,
    UnsupportedProtocol,
    decode_connect,
    decode_from,
    decode_publish,
)
from mqttdesk.broker.protocol.events import ConnectionClosed, Event, KeepAliveTimedOut, ProtocolErrorOccurred
from mqttdesk.broker.protocol.packets import Auth, Connect, Disconnect, Publish, new_puback
from mqttdesk.broker.protocol.properties import EMPTY_PROPERTIES, Properties
from mqttdesk.broker.protocol.reason_codes import Mqtt5Reason, ProtocolError, protocol_error
from mqttdesk.broker.protocol.topic_aliases import InboundTopicAliases, OutboundTopicAliases

DEFAULT_MAXIMUM_PACKET_SIZE = 16 * 1024 * 1024
DEFAULT_RECEIVE_MAXIMUM = 65535  # also what a client that announces none allows [MQTT-3.1.2.11.3]
KEEP_ALIVE_FACTOR = 1.5  # [MQTT-3.1.2-24]
# what data_to_send() and events_received() return when there is nothing: never appended to
_NOTHING: list[bytes] = []
_NO_EVENTS: list[Event] = []
# bytes of a partial packet joined with the next read as bytes, not grown in a bytearray: a read's last few messages
# cut short (the usual leftover) are joined once; a large packet trickling in small reads must not be copied whole
# at every read
_JOIN_BELOW = 4096
_PUBACK_HEADER = bytes((wf.PUBACK << 4, 2))
_pack_u16 = wf.U16.pack


class State(Enum):
    CONNECTING = "connecting"
    AWAITING_CONNACK = "awaiting-connack"
    OPEN = "open"
    CLOSING = "closing"
    CLOSED = "closed"


# what a connection that never had a QoS 1/2 PUBLISH unacknowledged shares (an empty set is 216 bytes of every
# client): only discarded from, never added to (`_inbound` gives a connection its own set first)
_NO_PACKET_IDS: set[int] = set()


class InvalidState(Exception):
    """The broker called a method that makes no sense now (e.g. CONNACK twice): a bug in the caller."""


class ServerProtocol:
    # slots: one of these per connected client (a __dict__ is ~0.3 KB of each)
    __slots__ = (
        "_authenticating", "_buffer", "_clock", "_connect_expiry", "_disconnect", "_events", "_failure", "_grace",
        "_inbound_aliases", "_inbound_unacked", "_last_received", "_out", "_outbound_aliases",
        "_outbound_aliases_wanted", "_progress",
        "client_maximum_packet_size", "client_receive_maximum", "client_topic_alias_maximum", "connect", "keep_alive",
        "maximum_packet_size", "receive_maximum", "request_problem_information", "request_response_information",
        "state", "topic_alias_maximum", "version"
    )

    def __init__(self, *, maximum_packet_size: int = DEFAULT_MAXIMUM_PACKET_SIZE,
                 receive_maximum: int = DEFAULT_RECEIVE_MAXIMUM, topic_alias_maximum: int = 0,
                 outbound_topic_aliases: bool = False, connect_timeout: float | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.maximum_packet_size = maximum_packet_size  # ours, announced in an MQTT 5 CONNACK
        self.receive_maximum = receive_maximum  # ours: unacknowledged incoming QoS 1/2 PUBLISHes
        self.topic_alias_maximum = topic_alias_maximum  # ours: aliases a client may set (0: none)
        # aliases in `send_publish`; mqttdesk's broker encodes its PUBLISHes in SessionState, with its own table
        self._outbound_aliases_wanted = outbound_topic_aliases
        self._clock = clock
        self.state = State.CONNECTING
        self.version: int | None = None  # 4 (3.1.1) or 5 once the CONNECT is decoded
        # the CONNECT until it is answered (not kept for the connection's life: it holds the password)
        self.connect: Connect | None = None
        self._connect_expiry = 0  # its session expiry interval, which a DISCONNECT may not raise from 0
        # the client's limits, from its CONNECT
        self.client_receive_maximum = DEFAULT_RECEIVE_MAXIMUM
        self.client_maximum_packet_size: int | None = None  # None: no limit but the protocol's
        self.client_topic_alias_maximum = 0
        self.request_problem_information = True
        self.request_response_information = False
        self.keep_alive = 0  # in effect: the CONNECT's, or the server keep alive of our CONNACK
        self._progress = ConnectProgress()
        # bytes not decoded yet: what arrived as it came (no copy) when nothing was left over, the shared b"" when
        # all is decoded (an idle connection's empty bytearray was 56 bytes of it), a bytearray only for the
        # bytes of a packet that has not arrived whole
        self._buffer: bytes | bytearray = b""
        # events not yet taken and packets not yet sent; the shared empty tuple in between (two empty lists were
        # 112 bytes of every idle connection)
        self._events: list[Event] | tuple[()] = ()
        self._out: list[bytes] | tuple[()] = ()
        self._inbound_aliases: InboundTopicAliases | None = None  # made at the first alias the client sends
        # packet ids of QoS 1/2 PUBLISHes not yet PUBACKed / PUBCOMPed; a set of its own from the first one
        self._inbound_unacked: set[int] = _NO_PACKET_IDS
        self._outbound_aliases: OutboundTopicAliases | None = None  # when asked for and the client allows them
        self._disconnect: Disconnect | None = None
        self._failure: ProtocolError | None = None  # on an open connection: reported, not answered yet
        self._authenticating = False  # an MQTT 5 CONNECT with an authentication method: AUTH before CONNACK
        self._last_received = clock()
        self._grace = connect_timeout  # seconds of silence allowed; None: no deadline

    # -- input -------------------------------------------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        """Bytes read from the connection; decodes every complete packet among them (and those buffered)."""
        if self.state is State.CLOSING or self.state is State.CLOSED or self._failure is not None:
            return
        self._last_received = self._clock()
        buffer = self._buffer
        if not buffer:
            self._buffer = data
        elif isinstance(buffer, bytearray):
            buffer += data
        elif len(buffer) < _JOIN_BELOW:
            # the partial packet a read ended with, joined as bytes: the messages sliced from it then need no second
            # copy each (a bytearray's slice is one more); a large packet arriving in pieces grows a bytearray
            self._buffer = buffer + data
        else:
            self._buffer = bytearray(buffer) + data
        if self.state is not State.AWAITING_CONNACK or self._authenticating:
            self._parse()

    def receive_eof(self) -> None:
        """The peer closed the connection (or it broke)."""
        if self.state is not State.CLOSED:
            self.state = State.CLOSED
            self._buffer = b""
            self._add_event(ConnectionClosed(self._disconnect))

    def events_received(self) -> list[Event]:
        """What happened since the last call, in order (the same empty list when nothing did: only read it)."""
        events = self._events
        self._events = ()
        return events if events else _NO_EVENTS

    def data_to_send(self) -> list[bytes]:
        """What to write, oldest first; the list is the caller's to keep (when there is nothing, the same shared
        empty list: only read that one)."""
        out = self._out
        if not out:
            return _NOTHING
        self._out = ()
        return out

    def _add_event(self, event: Event) -> None:
        events = self._events
        if isinstance(events, list):  # (not "if events": `_parse` may have made the list, still empty, it appends to)
            events.append(event)
        else:
            self._events = [event]

    def _add_packet(self, data: bytes) -> None:
        out = self._out
        if isinstance(out, list):
            out.append(data)
        else:
            self._out = [data]

    def close_expected(self) -> bool:
        """True once the connection is over from the protocol's point of view: write what is pending, then close."""
        return self.state is State.CLOSING or self.state is State.CLOSED or self._failure is not None

    def next_deadline(self) -> float | None:
        """When (on the `clock`) the peer will have been silent too long; None when there is no limit."""
        if self._grace is None or self.close_expected():
            return None
        return self._last_received + self._grace

    def restart_keep_alive(self) -> None:
        """Count the peer's silence from now (the broker's clock jumped: the silence was not the peer's)."""
        self._last_received = self._clock()

    def handle_deadline(self, now: float | None = None) -> None:
        """Called at (or after) `next_deadline()`: ends the connection if nothing arrived in time."""
        deadline = self.next_deadline()
        if deadline is None or self._grace is None:
            return
        now = self._clock() if now is None else now
        if now < deadline:
            return
        timed_out = KeepAliveTimedOut(now - self._last_received, self._grace)
        self._add_event(timed_out)
        if self.version == wf.MQTT_5 and self.state is State.OPEN:
            self._queue_disconnect(Mqtt5Reason.KEEP_ALIVE_TIMEOUT, timed_out.describe())
        self.state = State.CLOSING

    # -- decoding ----------------------------------------------------------------------------------------------

    def _parse(self) -> None:
        buffer, events = self._buffer, self._events
        if not isinstance(events, list):  # (what `_packet` decodes below is added to this same list)
            events = self._events = []
        size, position = len(buffer), 0
        version = self._publish_version()  # 0: PUBLISH is not decoded on the fast path in this state
        maximum = self.maximum_packet_size
        try:
            while size - position >= 2:
                first, length, index = buffer[position], buffer[position + 1], position + 2
                if length & 0x80:
                    header = wf.read_remaining_length(buffer, position + 1, size)
                    if header is None:
                        break
                    length, index = header
                end = index + length
                if end - position > maximum:
                    raise self._too_large(end - position, buffer, index, size)
                if end > size:
                    break
                if first >> 4 == wf.PUBLISH and version:  # the hot path: nothing else to check per packet
                    publish = decode_publish(first & 0x0F, buffer, index, end, version, position)
                    if first & 0x06 or version == wf.MQTT_5:
                        publish = self._inbound(publish)
                    events.append(publish)
                    position = end
                    continue
                if first == _PUBACK_FIRST and length == 2 and version:  # a PUBACK with its packet id alone (either
                    packet_id = (buffer[index] << 8) | buffer[index + 1]  # version): the other half of QoS 1
                    if packet_id:  # (0: the full decoder says what is wrong)
                        events.append(new_puback(packet_id))
                        position = end
                        continue
                self._packet(first, buffer, index, end)
                position = end
                if self.state is not State.OPEN and not (self._authenticating
                                                         and self.state is State.AWAITING_CONNACK):
                    break
                version = self._publish_version()
        except ProtocolError as error:
            self._fail(error)
            self._buffer = b""
            return
        if position == size:
            self._buffer = b""
        elif position:
            self._buffer = buffer[position:]  # the start of a packet: the rest is added to it

    def _publish_version(self) -> int:
        return self.version or 0 if self.state is State.OPEN else 0

    def _too_large(self, size: int, buffer: bytes | bytearray, index: int, end: int) -> ProtocolError:
        if self.state is State.CONNECTING and end > index + 6 and buffer[index + 6] == wf.MQTT_5 \
                and buffer[index:index + 6] == b"\x00\x04MQTT":
            self._progress.protocol_version = wf.MQTT_5  # so that the refusal is an MQTT 5 CONNACK
        return ProtocolError(Mqtt5Reason.PACKET_TOO_LARGE,
                             f"a packet of {size} bytes exceeds the maximum packet size of {self.maximum_packet_size}")

    def _packet(self, first: int, buffer: bytes | bytearray, start: int, end: int) -> None:
        if self.state is State.CONNECTING:
            if first >> 4 != wf.CONNECT:
                raise protocol_error(f"the first packet must be CONNECT, not "
                                     f"{wf.PACKET_NAMES.get(first >> 4, first >> 4)}")  # [MQTT-3.1.0-1]
            if first & 0x0F:
                raise ProtocolError(Mqtt5Reason.MALFORMED_PACKET, "CONNECT with reserved flags")  # [MQTT-2.1.3-1]
            self._connected(decode_connect(buffer[start:end], self._progress))
            return
        assert self.version is not None
        packet = decode_from(first, buffer, start, end, self.version)
        if self.state is State.AWAITING_CONNACK and not isinstance(packet, Auth | Disconnect):
            raise protocol_error(f"{wf.PACKET_NAMES[first >> 4]} during authentication")  # [MQTT-3.1.2-30]
        if isinstance(packet, Disconnect):
            requested = packet.session_expiry_interval
            if requested and not self._connect_expiry:
                raise protocol_error("DISCONNECT sets a session expiry interval after CONNECT set 0")  # [MQTT-3.14.2-2]
            self._disconnect = packet
            self.state = State.CLOSING  # [MQTT-3.14.4-1]: nothing more may be sent; the server closes
        self._add_event(packet)

    def _connected(self, connect: Connect) -> None:
        self.connect, self.version, self.state = connect, connect.protocol_version, State.AWAITING_CONNACK
        properties = connect.properties
        self._connect_expiry = properties.session_expiry_interval or 0
        self.client_receive_maximum = properties.receive_maximum or DEFAULT_RECEIVE_MAXIMUM
        self.client_maximum_packet_size = properties.maximum_packet_size
        self.client_topic_alias_maximum = properties.topic_alias_maximum or 0
        self.request_problem_information = properties.request_problem_information != 0
        self.request_response_information = properties.request_response_information == 1
        self._set_keep_alive(connect.keep_alive)
        self._authenticating = properties.authentication_method is not None
        self._add_event(connect)

    def _set_keep_alive(self, keep_alive: int) -> None:
        self.keep_alive = keep_alive
        self._grace = keep_alive * KEEP_ALIVE_FACTOR if keep_alive else None

    def _inbound(self, publish: Publish) -> Publish:
        """Topic alias and receive maximum of an incoming PUBLISH (MQTT 5; receive maximum for both versions)."""
        alias = publish.properties.topic_alias
        if alias is not None:
            aliases = self._inbound_aliases
            if aliases is None:  # most clients never send one: 0.15 KB of every connection otherwise
                aliases = self._inbound_aliases = InboundTopicAliases(self.topic_alias_maximum)
            publish = aliases.resolve(publish, alias)
        packet_id = publish.packet_id
        unacked = self._inbound_unacked
        if packet_id is not None and packet_id not in unacked:
            if len(unacked) >= self.receive_maximum:
                raise ProtocolError(Mqtt5Reason.RECEIVE_MAXIMUM_EXCEEDED,
                                    f"more than {self.receive_maximum} QoS 1/2 PUBLISHes unacknowledged")
            if unacked is _NO_PACKET_IDS:
                unacked = self._inbound_unacked = set()
            unacked.add(packet_id)
        return publish

    def _fail(self, error: ProtocolError) -> None:
        progress = self._progress
        self._add_event(ProtocolErrorOccurred(error.reason_code, error.text, progress.protocol_version,
                                              progress.client_id, progress.username))
        if self.state is State.CONNECTING:
            level = progress.protocol_version
            if isinstance(error, UnsupportedProtocol) and (level is None or level < wf.MQTT_5):
                self._add_packet(encoder.encode_connack(wf.MQTT_3_1_1, False, 1))  # [MQTT-3.1.2-2]
            elif level is not None and level >= wf.MQTT_5:
                self._refuse(error)
        elif self.version == wf.MQTT_5 and self.state is State.AWAITING_CONNACK:
            self._refuse(error)
        elif self.state is State.OPEN:
            self._failure = error  # the packets before it are answered first (module docstring)
            return
        self.state = State.CLOSING

    def send_error_disconnect(self) -> None:
        """Answer the protocol error reported on the open connection: MQTT 5 gets the DISCONNECT with its reason
        code and text [MQTT-4.13.1-1], behind everything sent so far; 3.1.1 is just closed. Call it when handling
        the `ProtocolErrorOccurred` event, after the events before it."""
        error = self._failure
        if error is None or self.state is not State.OPEN:
            return
        if self.version == wf.MQTT_5:
            self._queue_disconnect(error.reason_code, error.text)
        self.state = State.CLOSING

    def _refuse(self, error: ProtocolError) -> None:
        """Before the CONNACK an MQTT 5 client learns of its error from a CONNACK with the code [MQTT-4.13.1-1]."""
        self._add_packet(self._fitted(lambda properties: encoder.encode_connack(
            wf.MQTT_5, False, error.reason_code, properties), Properties(reason_string=error.text)))

    # -- output ------------------------------------------------------------------------------------------------

    def _fitted(self, build: Callable[[Properties], bytes], properties: Properties) -> bytes:
        """The packet, without reason string and user properties if they would exceed the client's maximum packet
        size ([MQTT-3.4.2-2] and the like: those are the properties a server may drop)."""
        data = build(properties)
        limit = self.client_maximum_packet_size
        if limit is not None and len(data) > limit and properties is not EMPTY_PROPERTIES:
            data = build(properties.without_problem_information())
        return data

    def _problem(self, reason_string: str | None, user_properties: Sequence[tuple[str, str]]) -> Properties:
        if self.version != wf.MQTT_5 or not self.request_problem_information or \
                (reason_string is None and not user_properties):
            return EMPTY_PROPERTIES  # [MQTT-3.1.2-29]: no reason string or user property when asked not to
        return Properties(reason_string=reason_string, user_properties=tuple(user_properties))

    def _require_open(self, what: str) -> bool:
        if self.state is State.OPEN:
            return True
        if self.state is State.CONNECTING or self.state is State.AWAITING_CONNACK:
            raise InvalidState(f"{what} before the CONNACK")
        return False  # the connection is ending: nothing more goes out

    def send_connack(self, reason_code: int = 0, *, session_present: bool = False,
                     properties: Properties = EMPTY_PROPERTIES) -> None:
        """Answer the CONNECT. For MQTT 5 our limits (receive maximum, maximum packet size, topic alias maximum)
        are added to `properties` unless set there; a server keep alive there becomes the keep-alive in effect.
        A refusing code (>= 0x80; 3.1.1: non-zero after mapping) ends the connection. Call `events_received()`
        afterwards: packets that arrived behind the CONNECT are decoded now."""
        if self.state is not State.AWAITING_CONNACK:
            raise InvalidState(f"CONNACK in state {self.state.value}")
        self.connect = None
        version = self.version or wf.MQTT_3_1_1
        if version != wf.MQTT_5 and reason_code == 0:  # the common 3.1.1 case: four fixed bytes, nothing to fit
            self._add_packet(encoder.encode_connack(version, session_present, 0))
            self.state = State.OPEN
            if self._buffer:
                self._parse()
            return
        accepted = reason_code < 0x80
        if version == wf.MQTT_5 and accepted:
            if properties is EMPTY_PROPERTIES:  # the common case: only our limits, the same bytes for every client
                packet = self._plain_connack(session_present, reason_code)
            else:
                properties = self._with_our_limits(properties)
                if properties.server_keep_alive is not None:
                    self._set_keep_alive(properties.server_keep_alive)
                if properties.topic_alias_maximum is not None:
                    self.topic_alias_maximum = properties.topic_alias_maximum
                packet = self._fitted(lambda props: encoder.encode_connack(
                    version, session_present, reason_code, props), properties)
            if self._outbound_aliases_wanted and self.client_topic_alias_maximum:
                self._outbound_aliases = OutboundTopicAliases(self.client_topic_alias_maximum)
        else:
            packet = self._fitted(lambda props: encoder.encode_connack(
                version, session_present, reason_code, props), properties)
        self._add_packet(packet)
        if not accepted or (version != wf.MQTT_5 and reason_code != 0):
            self.state = State.CLOSING
            self._buffer = b""
            return
        self.state = State.OPEN
        self._authenticating = False
        if self._buffer:
            self._parse()

    def _with_our_limits(self, properties: Properties) -> Properties:
        return replace(
            properties,
            receive_maximum=_first(properties.receive_maximum, self.receive_maximum, DEFAULT_RECEIVE_MAXIMUM),
            maximum_packet_size=_first(properties.maximum_packet_size, self.maximum_packet_size, None),
            topic_alias_maximum=_first(properties.topic_alias_maximum, self.topic_alias_maximum, 0),
        )

    def _plain_connack(self, session_present: bool, reason_code: int) -> bytes:
        """An MQTT 5 CONNACK with our limits and nothing else, made once per set of limits (the dataclass `replace`
        and the property encoding were a tenth of an MQTT 5 CONNECT's broker time). Nothing in it is a problem
        property, so no client's maximum packet size shortens it."""
        key = (session_present, reason_code, self.receive_maximum, self.maximum_packet_size, self.topic_alias_maximum)
        packet = _PLAIN_CONNACKS.get(key)
        if packet is None:
            packet = _PLAIN_CONNACKS[key] = encoder.encode_connack(
                wf.MQTT_5, session_present, reason_code, self._with_our_limits(EMPTY_PROPERTIES))
        return packet

    def send_publish(self, message: Publish | encoder.OutgoingPublish, *, packet_id: int | None = None,
                     qos: int | None = None, retain: bool | None = None, dup: bool = False) -> bool:
        """Send a message (prepare it once as an `OutgoingPublish` when it goes to many). False, and nothing sent,
        when the packet would exceed the client's maximum packet size [MQTT-3.1.2-24] or the connection is ending."""
        if not self._require_open("PUBLISH"):
            return False
        outgoing = message if isinstance(message, encoder.OutgoingPublish) else encoder.OutgoingPublish(message)
        version = self.version or wf.MQTT_3_1_1
        effective_qos = outgoing.publish.qos if qos is None else qos
        limit = self.client_maximum_packet_size
        aliases = self._outbound_aliases
        if aliases is not None and not dup:  # a resent message goes with its whole topic
            packet = aliases.encode(outgoing, qos=effective_qos, retain=retain, packet_id=packet_id, limit=limit)
            if packet is None:
                return False
            self._add_packet(packet)
            return True
        if limit is not None and outgoing.size(version, effective_qos) > limit:
            return False
        self._add_packet(outgoing.encode(version, qos=effective_qos, retain=retain, dup=dup, packet_id=packet_id))
        return True

    def _send_ack(self, packet_type: int, packet_id: int, reason_code: int, reason_string: str | None,
                  user_properties: Sequence[tuple[str, str]]) -> None:
        version = self.version or wf.MQTT_3_1_1
        self._add_packet(self._fitted(lambda props: encoder.encode_ack(packet_type, version, packet_id, reason_code,
                                                                       props),
                                      self._problem(reason_string, user_properties)))

    def send_puback(self, packet_id: int, reason_code: int = 0, reason_string: str | None = None,
                    user_properties: Sequence[tuple[str, str]] = ()) -> None:
        if self.state is State.OPEN and not reason_code and reason_string is None and not user_properties:
            self._inbound_unacked.discard(packet_id)  # the hot path of QoS 1: 4 bytes in both versions
            self._add_packet(_PUBACK_HEADER + _pack_u16(packet_id))
            return
        if self._require_open("PUBACK"):
            self._inbound_unacked.discard(packet_id)
            self._send_ack(wf.PUBACK, packet_id, reason_code, reason_string, user_properties)

    def send_pubrec(self, packet_id: int, reason_code: int = 0, reason_string: str | None = None,
                    user_properties: Sequence[tuple[str, str]] = ()) -> None:
        if self._require_open("PUBREC"):
            if reason_code >= 0x80:  # a refused QoS 2 message ends its exchange here [MQTT-4.3.3]
                self._inbound_unacked.discard(packet_id)
            self._send_ack(wf.PUBREC, packet_id, reason_code, reason_string, user_properties)

    def send_pubrel(self, packet_id: int, reason_code: int = 0, reason_string: str | None = None,
                    user_properties: Sequence[tuple[str, str]] = ()) -> None:
        if self._require_open("PUBREL"):
            self._send_ack(wf.PUBREL, packet_id, reason_code, reason_string, user_properties)

    def send_pubcomp(self, packet_id: int, reason_code: int = 0, reason_string: str | None = None,
                     user_properties: Sequence[tuple[str, str]] = ()) -> None:
        if self._require_open("PUBCOMP"):
            self._inbound_unacked.discard(packet_id)
            self._send_ack(wf.PUBCOMP, packet_id, reason_code, reason_string, user_properties)

    def send_suback(self, packet_id: int, reason_codes: Sequence[int], reason_string: str | None = None,
                    user_properties: Sequence[tuple[str, str]] = ()) -> None:
        if self._require_open("SUBACK"):
            version = self.version or wf.MQTT_3_1_1
            self._add_packet(self._fitted(lambda props: encoder.encode_suback(version, packet_id, reason_codes, props),
                                          self._problem(reason_string, user_properties)))

    def send_unsuback(self, packet_id: int, reason_codes: Sequence[int], reason_string: str | None = None,
                      user_properties: Sequence[tuple[str, str]] = ()) -> None:
        if self._require_open("UNSUBACK"):
            version = self.version or wf.MQTT_3_1_1
            self._add_packet(self._fitted(
                lambda props: encoder.encode_unsuback(version, packet_id, reason_codes, props),
                self._problem(reason_string, user_properties)))

    def send_auth(self, reason_code: int, properties: Properties = EMPTY_PROPERTIES) -> None:
        """MQTT 5 enhanced authentication (during AWAITING_CONNACK or to re-authenticate when OPEN)."""
        if self.version != wf.MQTT_5 or self.close_expected():
            raise InvalidState("AUTH on a connection that is not MQTT 5 or is ending")
        if not self.request_problem_information:
            properties = properties.without_problem_information()
        self._add_packet(self._fitted(lambda props: encoder.encode_auth(reason_code, props), properties))

    def send_pingresp(self) -> None:
        if self._require_open("PINGRESP"):
            self._add_packet(encoder.PINGRESP_BYTES)

    def send_disconnect(self, reason_code: int = 0, reason_string: str | None = None, *,
                        server_reference: str | None = None,
                        user_properties: Sequence[tuple[str, str]] = ()) -> None:
        """End the connection from our side: an MQTT 5 client gets a DISCONNECT, a 3.1.1 one just the close."""
        if self.state is State.OPEN and self.version == wf.MQTT_5:
            self._queue_disconnect(reason_code, reason_string, server_reference, user_properties)
        if self.state is not State.CLOSED:
            self.state = State.CLOSING

    def _queue_disconnect(self, reason_code: int, reason_string: str | None, server_reference: str | None = None,
                          user_properties: Sequence[tuple[str, str]] = ()) -> None:
        properties = EMPTY_PROPERTIES
        if reason_string is not None or server_reference is not None or user_properties:
            properties = Properties(reason_string=reason_string, server_reference=server_reference,
                                    user_properties=tuple(user_properties))
        self._add_packet(self._fitted(lambda props: encoder.encode_disconnect(reason_code, props), properties))


_PUBACK_FIRST = wf.PUBACK << 4

# plain MQTT 5 CONNACKs by (session present, reason code, our receive maximum, maximum packet size, topic alias
# maximum): as many as there are sets of limits a broker ran with
_PLAIN_CONNACKS: dict[tuple[bool, int, int, int | None, int], bytes] = {}


def _first(given: int | None, ours: int | None, default: int | None) -> int | None:
    """The value to announce: the broker's explicit one, else ours unless it is the protocol default."""
    if given is not None:
        return given
    return None if ours == default else ours

