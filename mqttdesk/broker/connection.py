"""One client connection after its CONNECT was accepted: reads packets, enforces keep-alive, writes packets.

Reading is done in chunks into a buffer from which whole packets are cut, so a burst of small PUBLISH packets
costs one await, not several per packet as in amqtt. Everything a packet causes (routing to subscribers,
acknowledgements) runs synchronously between two reads; the only waiting is for the socket, with one exception:
a SUBSCRIBE with many filters is handled in slices that let the event loop serve every other client in between.
Its packets are handled in order all the same: the ones after it (in the buffer or still in the socket) wait until
its SUBACK is out.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine
from typing import Any, Protocol

from mqttdesk.broker import wire
from mqttdesk.broker.session_state import SessionState
from mqttdesk.broker.transport import Stream
from mqttdesk.core.reasons import ReasonCode

log = logging.getLogger(__name__)

MAX_PACKET_BYTES = 16 * 1024 * 1024  # larger packets close the connection (documented in the README)
WRITE_BUFFER_LIMIT = 8 * 1024 * 1024  # a subscriber this far behind loses QoS 0 messages instead of stalling us
Pending = Coroutine[Any, Any, None]  # the rest of a packet handled in slices, to be awaited before the next one


class PacketSink(Protocol):
    """What the broker does with the packets of a connection (see `Router`)."""

    def on_publish(self, connection: Connection, publish: wire.Publish) -> None:
        """A QoS 0 or 1 PUBLISH: decide it and route it."""
    def admit_publish(self, connection: Connection, publish: wire.Publish) -> bool:
        """Decide (and log) a PUBLISH without routing it; an invalid topic raises `wire.ProtocolViolation`."""
    def route(self, topic: str, payload: bytes, qos: int, retain: bool) -> None: ...
    def on_subscribe(self, connection: Connection, packet_id: int,
                     topics: list[tuple[str, int]]) -> Pending | None:
        """Subscribe now, or return the coroutine that does it in slices (the connection awaits it)."""
    def on_unsubscribe(self, connection: Connection, packet_id: int, filters: list[str]) -> None: ...
    def wants_flush(self, connection: Connection) -> None:
        """`connection` has packets waiting: write them (with everyone else's) once this loop turn is over."""


class Connection:
    def __init__(self, stream: Stream, state: SessionState, keep_alive: int, sink: PacketSink) -> None:
        self._stream = stream
        self.state = state
        self._sink = sink
        self._grace = keep_alive * 1.5  # [MQTT-3.1.2-24]: one and a half times the keep-alive
        self._last_received = time.monotonic()
        self._watchdog: asyncio.TimerHandle | None = None
        self.end_reason: tuple[ReasonCode, str] | None = None
        self.clean_disconnect = False
        self.finished = asyncio.Event()
        self._out: list[bytes] = []
        self._out_bytes = 0

    # -- writing -----------------------------------------------------------------------------------
    # Packets are collected and written once per event-loop turn: a chunk of 600 small PUBLISHes from one client
    # becomes one write to each subscriber instead of 600 (one send() each was half the broker's CPU).

    def send(self, data: bytes) -> None:
        if self._stream.is_closing():
            return
        if not self._out:
            self._sink.wants_flush(self)
        self._out.append(data)
        self._out_bytes += len(data)

    def send_qos0(self, data: bytes) -> bool:
        """QoS 0 may be dropped for a client that does not keep up; False when it was."""
        if self._stream.write_buffer_size() + self._out_bytes > WRITE_BUFFER_LIMIT:
            return False
        self.send(data)
        return True

    def flush(self) -> None:
        if not self._out:
            return
        data = self._out[0] if len(self._out) == 1 else b"".join(self._out)
        self._out.clear()
        self._out_bytes = 0
        if not self._stream.is_closing():
            self._stream.write(data)

    # -- ending ------------------------------------------------------------------------------------

    @property
    def closing(self) -> bool:
        """The connection is being closed (ended by us, or lost): work on its behalf can stop."""
        return self._stream.is_closing()

    def end(self, code: ReasonCode, text: str) -> None:
        """Close from our side (kick, keep-alive, take-over, credential change): the will will be published."""
        if self.end_reason is None:
            self.end_reason = (code, text)
        self.flush()
        # abort, not close: close() waits until buffered output is written, which for a dead peer (the usual
        # reason for a keep-alive timeout) takes TCP's own timeout — and the will waits with it
        self._stream.abort()

    def _keep_alive_check(self) -> None:
        idle = time.monotonic() - self._last_received
        if idle >= self._grace:
            self.end(ReasonCode.KEEPALIVE_TIMEOUT,
                     f"nothing received for {idle:.1f} s (keep-alive {self._grace / 1.5:g} s, limit 1.5×)")
            return
        self._watchdog = asyncio.get_running_loop().call_later(self._grace - idle, self._keep_alive_check)

    # -- reading -----------------------------------------------------------------------------------

    async def run(self) -> None:
        """Serve the connection until it ends; `end_reason` / `clean_disconnect` say how."""
        if self._grace:
            self._watchdog = asyncio.get_running_loop().call_later(self._grace, self._keep_alive_check)
        buffer = bytearray()
        try:
            while not self._stream.is_closing():
                chunk = await self._stream.read()
                if not chunk:
                    break
                self._last_received = time.monotonic()
                buffer += chunk
                consumed, pending = self._consume(buffer)
                if consumed:
                    del buffer[:consumed]
                if pending is not None:
                    await self._await_in_order(pending, buffer)
                if self.clean_disconnect:
                    break
        except wire.ProtocolViolation as exc:
            if self.end_reason is None:
                self.end_reason = (ReasonCode.PROTOCOL_ERROR, f"protocol error: {exc}")
        except (ConnectionError, OSError) as exc:
            log.debug("%s: connection error %r", self.state.client_id, exc)
        finally:
            if self._watchdog is not None:
                self._watchdog.cancel()
            self.flush()  # e.g. the SUBACK for a SUBSCRIBE that came in one chunk with DISCONNECT
            self._stream.close()
            self.finished.set()

    async def _await_in_order(self, first: Pending, buffer: bytearray) -> None:
        """Finish a packet handled in slices, then the packets buffered after it (awaiting any that are sliced too).

        Nothing is read from this connection meanwhile, so its later packets keep their order; other connections
        are served between the slices.
        """
        pending: Pending | None = first
        while pending is not None:
            await pending
            # the time spent on its own packet is not silence on the client's part
            self._last_received = time.monotonic()
            if self.closing:
                return
            consumed, pending = self._consume(buffer)
            if consumed:
                del buffer[:consumed]

    def _consume(self, buffer: bytearray) -> tuple[int, Pending | None]:
        """Handle complete packets at the start of `buffer`: (bytes used, what is left to await of the last one).

        Stops after a packet that returned something to await: the packets after it must wait for it.
        """
        position, size = 0, len(buffer)
        while position < size and not self.clean_disconnect:
            first = buffer[position]
            header = wire.decode_remaining_length(buffer, position + 1)
            if header is None:
                return position, None  # the length is not complete yet
            length, index = header
            if length > MAX_PACKET_BYTES:
                raise wire.ProtocolViolation(f"packet of {length} bytes exceeds the limit of {MAX_PACKET_BYTES}")
            end = index + length
            if end > size:
                return position, None
            pending = self._dispatch(first >> 4, first & 0x0F, bytes(buffer[index:end]))
            position = end
            if pending is not None:
                return position, pending
        return position, None

    def _dispatch(self, packet_type: int, flags: int, body: bytes) -> Pending | None:
        wire.check_flags(packet_type, flags)
        state = self.state
        if packet_type == wire.PUBLISH:
            publish = wire.decode_publish(flags, body)
            if publish.qos == 2:
                self._receive_qos2(publish)
                return None
            self._sink.on_publish(self, publish)
            if publish.qos == 1:
                assert publish.packet_id is not None
                self.send(wire.encode_ack(wire.PUBACK, publish.packet_id))
        elif packet_type == wire.PUBACK:
            self._send_all(state.puback(wire.packet_id(body)))
        elif packet_type == wire.PUBREC:
            self.send(state.pubrec(wire.packet_id(body)))
        elif packet_type == wire.PUBREL:
            packet_id = wire.packet_id(body)
            released = state.release_incoming(packet_id)
            if released is not None:
                self._sink.route(released.topic, released.payload, released.qos, released.retain)
            self.send(wire.encode_ack(wire.PUBCOMP, packet_id))
        elif packet_type == wire.PUBCOMP:
            self._send_all(state.pubcomp(wire.packet_id(body)))
        elif packet_type == wire.SUBSCRIBE:
            limit = state.limits.max_subscriptions_per_packet
            return self._sink.on_subscribe(self, *wire.decode_subscribe(body, limit))
        elif packet_type == wire.UNSUBSCRIBE:
            self._sink.on_unsubscribe(self, *wire.decode_unsubscribe(body, state.limits.max_subscriptions_per_packet))
        elif packet_type == wire.PINGREQ:
            self.send(wire.PINGRESP_BYTES)
        elif packet_type == wire.DISCONNECT:
            self.clean_disconnect = True  # [MQTT-3.14.4-3]: the will is discarded
        else:
            # a second CONNECT is a protocol violation [MQTT-3.1.0-2]; so is any server-to-client packet
            raise wire.ProtocolViolation(f"unexpected {wire.PACKET_NAMES.get(packet_type, packet_type)} from a client")
        return None

    def _receive_qos2(self, publish: wire.Publish) -> None:
        """Exactly once: decided and logged now, kept until PUBREL, routed then.

        A refused message is answered with PUBREC all the same (3.1.1 has no negative acknowledgement, and a client
        without its PUBREC would resend forever) but only its packet id is kept: PUBREL gets PUBCOMP and nothing is
        routed. A PUBLISH resent with an id still held is acknowledged again and not decided twice [MQTT-4.3.3-2].
        """
        packet_id = publish.packet_id
        assert packet_id is not None
        if packet_id not in self.state.incoming_qos2:
            admitted = self._sink.admit_publish(self, publish)
            exceeded = self.state.hold_incoming(packet_id, publish if admitted else None)
            if exceeded is not None:
                raise wire.ProtocolViolation(exceeded)
        self.send(wire.encode_ack(wire.PUBREC, packet_id))

    def _send_all(self, packets: list[bytes]) -> None:
        for packet in packets:
            self.send(packet)
