"""One client connection after its CONNECT was accepted: the asyncio shell around the sans-I/O `ServerProtocol`.

It reads whatever has arrived, feeds it to the protocol (MQTT 3.1.1 or 5: the events are the same), acts on the
events in order, and writes what the protocol and the session produced once per event-loop turn. Everything a packet
causes (routing to subscribers, acknowledgements) runs synchronously between two reads; the only waiting is for the
socket, with two exceptions: a SUBSCRIBE with many filters is handled in slices that let the event loop serve every
other client in between, and the PUBLISH or SUBSCRIBE of a client the external HTTP service admitted waits for the
service's answers (`PacketSink.prefetch`). Its packets are handled in order all the same: the events after such a
packet wait until it is done, and nothing more is read from this connection meanwhile.

A TCP or TLS connection is served by its stream's callbacks (`serve`: bytes are handled as they arrive, and no task
waits for them); a WebSocket one by a task that awaits its reads (`run`: the websockets library reads by awaiting).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection, Coroutine, Mapping, Sequence
from typing import Any, Protocol

from mqttdesk.broker.keep_alive_wheel import KeepAliveWheel
from mqttdesk.broker.limit_counts import LimitEvent
from mqttdesk.broker.protocol import (
    Auth,
    Disconnect,
    Event,
    KeepAliveTimedOut,
    PingReq,
    ProtocolErrorOccurred,
    PubAck,
    PubComp,
    Publish,
    PubRec,
    PubRel,
    ServerProtocol,
    Subscribe,
    Unsubscribe,
)
from mqttdesk.broker.protocol import wire_format as wf
from mqttdesk.broker.protocol.reason_codes import Mqtt5Reason
from mqttdesk.broker.session_state import SessionState
from mqttdesk.broker.transport import SocketStream, Stream
from mqttdesk.core.decision import Decision
from mqttdesk.core.reasons import ReasonCode, mqtt5_disconnect_code, mqtt5_topic_refusal_code, reason_string

log = logging.getLogger(__name__)

Pending = Coroutine[Any, Any, None]  # the rest of a packet handled in slices, to be awaited before the next one
Decided = Mapping[str, Decision]  # topic decisions made ahead (by the external HTTP service), by topic or filter


class ProtocolViolation(Exception):
    """The client broke the protocol (or a limit of ours): the connection must be closed and its will published."""

    def __init__(self, text: str, reason_code: int = Mqtt5Reason.PROTOCOL_ERROR) -> None:
        super().__init__(text)
        self.reason_code = reason_code


class PacketSink(Protocol):
    """What the broker does with the packets of a connection (see `Router`)."""

    @property
    def external_sessions(self) -> Collection[SessionState]:
        """The sessions whose topics the external HTTP service decides: only their packets can need a `prefetch`
        (asked here on every PUBLISH rather than calling it: two calls a message that answered None for the rest)."""

    def prefetch(self, connection: Connection, packet: Publish | Subscribe) -> Coroutine[Any, Any, Decided] | None:
        """The decisions this packet needs that must be asked for first (external HTTP service), or None."""
    def admit_publish(self, connection: Connection, publish: Publish, decided: Decision | None = None) -> Decision:
        """Count, decide and log a PUBLISH without routing it (`decided`: its decision, made ahead)."""
    def route_from(self, connection: Connection, publish: Publish) -> None:
        """Route a PUBLISH the client may send (its will, or a message)."""
    def route(self, publish: Publish, origin: str | None = None) -> None:
        """`route_from` for a client whose clientId is `origin` (a message's hot path: one call less)."""
    def on_subscribe(self, connection: Connection, subscribe: Subscribe,
                     decided: Decided | None = None) -> Pending | None:
        """Subscribe now, or return the coroutine that does it in slices (the connection awaits it)."""
    def on_unsubscribe(self, connection: Connection, unsubscribe: Unsubscribe) -> None: ...
    def wants_flush(self, connection: Connection) -> None:
        """`connection` has packets waiting: write them (with everyone else's) once this loop turn is over."""


class Finished:
    """The end of a connection, as `asyncio.Event`'s `set`/`is_set`/`wait`: an Event allocates a deque (~0.8 KB,
    the largest part of an idle client's memory) for a wait that only a takeover or a shutdown ever does."""

    __slots__ = ("_set", "_future")

    def __init__(self) -> None:
        self._set = False
        self._future: asyncio.Future[None] | None = None

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        self._set = True
        if self._future is not None and not self._future.done():
            self._future.set_result(None)

    async def wait(self) -> None:
        if self._set:
            return
        if self._future is None:
            self._future = asyncio.get_running_loop().create_future()
        await asyncio.shield(self._future)  # a waiter that gives up must not cancel it for the others


_ENDED_UNWATCHED = Finished()  # the end of every connection nobody asked to wait for: set, and shared
_ENDED_UNWATCHED.set()


class Connection:
    # slots: one of these per connected client (a __dict__ is ~0.3 KB of each)
    __slots__ = (
        "_at_end", "_backlog_limit", "_clock_jumped", "_ended", "_out", "_out_bytes", "_sink", "_stream", "_waiting",
        "_finished", "_watchdog", "clean_disconnect", "end_reason", "protocol", "state", "will_wanted"
    )

    def __init__(self, stream: Stream, protocol: ServerProtocol, state: SessionState, sink: PacketSink, *,
                 clock_jumped: Callable[[], bool] | None = None) -> None:
        """`clock_jumped` is asked before a keep-alive timeout ends the session (see clock_jumps.py)."""
        self._stream = stream
        self.protocol = protocol
        self.state = state
        self._sink = sink
        self._watchdog: int | None = None  # the keep-alive wheel's slot this connection is filed under
        self._clock_jumped = clock_jumped
        self.end_reason: tuple[ReasonCode, str] | None = None
        self.clean_disconnect = False
        self.will_wanted = False  # MQTT 5 DISCONNECT 0x04: clean, but publish the will
        self._finished: Finished | None = None  # made when asked for: see `finished`
        self._at_end: Callable[[], None] | None = None  # `serve`: what runs once the connection has ended
        self._ended = False
        self._waiting: asyncio.Future[None] | None = None  # `serve`: the packet being waited for
        # packets for the next write; the shared empty tuple in between (56 bytes of every idle client as a list)
        self._out: list[bytes] | tuple[()] = ()
        self._out_bytes = 0
        # a subscriber this far behind loses QoS 0 messages instead of stalling us (max_subscriber_backlog_bytes)
        self._backlog_limit = state.limits.max_subscriber_backlog_bytes

    @property
    def stream(self) -> Stream:
        return self._stream

    @property
    def finished(self) -> Finished:
        """Set once the connection has ended and its session's books are closed. Made when first asked for: only a
        takeover or a shutdown waits (48 bytes of every idle client otherwise)."""
        if self._finished is None:
            self._finished = Finished()
        return self._finished

    def set_finished(self) -> None:
        if self._finished is None:
            self._finished = _ENDED_UNWATCHED
        else:
            self._finished.set()

    @property
    def version(self) -> int:
        return self.protocol.version or wf.MQTT_3_1_1

    # -- writing -----------------------------------------------------------------------------------
    # Packets are collected and written once per event-loop turn: a chunk of 600 small PUBLISHes from one client
    # becomes one write to each subscriber instead of 600 (one send() each was half the broker's CPU).

    # `_out_bytes` is what waits for the client: what its stream held when this loop turn's first packet came (it
    # only grows when we write, at `flush`), and what was packed since. So a QoS 0 delivery asks the stream once a
    # turn, not once a message (two calls of every fan-out delivery).

    def send(self, data: bytes) -> None:
        # no is_closing() here (a call per packet): flush() checks it, and send_qos0 bounds what can pile up
        out = self._out
        if out:
            out.append(data)
            self._out_bytes += len(data)
        else:
            self._start([data], len(data))

    def _start(self, out: list[bytes], size: int) -> None:
        """`out` (`size` bytes) begins this loop turn's write: the sink flushes it at the end of the turn."""
        self._sink.wants_flush(self)
        self._out = out
        self._out_bytes = self._stream.write_buffer_size() + size

    def send_qos0(self, data: bytes) -> bool:
        """QoS 0 may be dropped for a client that does not keep up; False when it was."""
        out = self._out
        if out:
            if self._out_bytes > self._backlog_limit:
                return self._too_far_behind()
            out.append(data)
            self._out_bytes += len(data)
            return True
        waiting = self._stream.write_buffer_size()
        if waiting > self._backlog_limit:
            return self._too_far_behind()
        self._sink.wants_flush(self)
        self._out = [data]
        self._out_bytes = waiting + len(data)
        return True

    def _too_far_behind(self) -> bool:
        counts = self.state.counts
        if counts is not None:
            counts.count(LimitEvent.SLOW_SUBSCRIBER, self.state.client_id, (
                f"QoS 0 messages are dropped: over {self._backlog_limit:,} bytes wait to be written to the client "
                "(max_subscriber_backlog_bytes)"))
        return False

    def pull(self) -> None:
        """Take what the protocol has to send (acknowledgements, PINGRESP, DISCONNECT) into the next write: the
        acknowledgements of a read's worth of QoS 1 messages in one go, not a `send` each."""
        pending = self.protocol.data_to_send()
        if not pending:
            return
        size = len(pending[0]) if len(pending) == 1 else sum(map(len, pending))
        out = self._out
        if out:
            out.extend(pending)
            self._out_bytes += size
        else:
            self._start(pending, size)  # the protocol's own list: `data_to_send` hands it over

    def flush(self) -> None:
        out = self._out
        if not out:
            return
        data = out[0] if len(out) == 1 else b"".join(out)
        self._out = ()
        self._out_bytes = 0
        if not self._stream.is_closing():
            self._stream.write(data)

    # -- ending ------------------------------------------------------------------------------------

    @property
    def closing(self) -> bool:
        """The connection is being closed (ended by us, or lost): work on its behalf can stop."""
        return bool(self._stream.is_closing())

    def end(self, code: ReasonCode, text: str, mqtt5_code: int | None = None) -> None:
        """Close from our side (kick, keep-alive, take-over, credential change): the will will be published.

        An MQTT 5 client is told why first: a DISCONNECT with the matching reason code and `text` as its Reason
        String (the sentence the Auth log shows).
        """
        if self.end_reason is None:
            self.end_reason = (code, text)
        if not self.protocol.close_expected():
            self.protocol.send_disconnect(mqtt5_disconnect_code(code) if mqtt5_code is None else mqtt5_code,
                                          reason_string(text))
        self.pull()
        self.flush()
        # abort, not close: close() waits until buffered output is written, which for a dead peer (the usual
        # reason for a keep-alive timeout) takes TCP's own timeout — and the will waits with it. A DISCONNECT just
        # written still goes out first: abort discards only what the kernel has not taken.
        if self.version == wf.MQTT_5 and self._stream.write_buffer_size() == 0:
            self._stream.close()
        else:
            self._stream.abort()

    def _arm_watchdog(self) -> None:
        self._disarm_watchdog()
        deadline = self.protocol.next_deadline()
        if deadline is not None:
            # the protocol's clock is the loop's (see DeskBroker); one wheel of deadlines, not a timer each
            self._watchdog = KeepAliveWheel.of(asyncio.get_running_loop()).add(self, deadline)

    def _disarm_watchdog(self) -> None:
        if self._watchdog is not None:
            KeepAliveWheel.of(asyncio.get_running_loop()).remove(self, self._watchdog)
            self._watchdog = None

    def restart_keep_alive(self) -> None:
        """One fresh keep-alive period from now (the clock jumped: nobody could speak while it did)."""
        self._disarm_watchdog()
        if self.closing or self.protocol.close_expected():
            return
        self.protocol.restart_keep_alive()
        self._arm_watchdog()

    def deadline_due(self) -> None:  # (keep_alive_wheel.Watched)
        self._watchdog = None
        if self._clock_jumped is not None and self._clock_jumped():
            return  # every session, this one too, was given a fresh period and a new deadline
        self.protocol.handle_deadline()
        for event in self.protocol.events_received():
            if isinstance(event, KeepAliveTimedOut):  # the protocol queued the MQTT 5 DISCONNECT 0x8D with it
                self.end(ReasonCode.KEEPALIVE_TIMEOUT, event.describe())
                return
        self._arm_watchdog()

    # -- reading -----------------------------------------------------------------------------------

    async def run(self) -> None:
        """Serve the connection until it ends; `end_reason` / `clean_disconnect` say how."""
        self._arm_watchdog()
        protocol = self.protocol
        try:
            # packets the client sent right behind its CONNECT were decoded when the CONNACK went out
            await self._handle(protocol.events_received())
            while not self._stream.is_closing() and not protocol.close_expected():
                chunk = await self._stream.read()
                if not chunk:
                    protocol.receive_eof()
                    break
                protocol.receive_data(chunk)
                await self._handle(protocol.events_received())
        except (ProtocolViolation, ConnectionError, OSError) as exc:
            self._report(exc)
        finally:
            self._wind_up()

    def _wind_up(self) -> None:
        self._disarm_watchdog()
        self.pull()
        self.flush()  # e.g. the SUBACK for a SUBSCRIBE that came in one chunk with DISCONNECT
        self._stream.close()
        if self._at_end is None:  # (a served connection is finished when its `at_end` says so)
            self.set_finished()

    # -- served by the stream's callbacks (TCP and TLS) ----------------------------------------------
    # The same as `run`, without a task: while it waits for bytes a connection holds no task, coroutine frames or
    # future (~2.4 KB of each idle client, and a task switch per read). A packet that must wait (a SUBSCRIBE in
    # slices, the external service's answers) holds the stream's delivery until it is done, so that the packets
    # after it still wait for it. WebSocket connections use `run`: their library reads by awaiting.

    def serve(self, stream: SocketStream, at_end: Callable[[], None]) -> None:
        """Serve the connection from `stream`'s callbacks; `at_end` is called once it has ended, and `finished` is
        set by whoever closes the session's books after that (so a waiter sees them closed)."""
        self._at_end = at_end
        self._arm_watchdog()
        # packets the client sent right behind its CONNECT were decoded when the CONNACK went out
        self._consume(self.protocol.events_received())
        if not self._ended:
            stream.deliver(self)

    # transport.Receiver: what `stream.deliver` calls
    def bytes_received(self, data: bytes) -> None:
        self.protocol.receive_data(data)
        self._consume(self.protocol.events_received())

    def stream_ended(self, error: Exception | None) -> None:
        if error is None:
            self.protocol.receive_eof()
            self._end_served()
        else:
            self._failed(error)

    def _consume(self, events: list[Event]) -> None:
        """`_handle` for `serve`: the events of one read, in order, until one must wait."""
        try:
            for index, event in enumerate(events):
                pending = self._event(event)
                if pending is not None:
                    self.pull()  # what the protocol answered so far goes before what the waiting packet sends
                    assert isinstance(self._stream, SocketStream)
                    self._stream.hold()
                    # kept: the loop holds only a weak reference to a task
                    self._waiting = asyncio.ensure_future(self._resume_after(pending, events[index + 1:]))
                    return
            self.pull()
        except Exception as exc:
            self._failed(exc)
            return
        if self._stream.is_closing() or self.protocol.close_expected():
            self._end_served()

    async def _resume_after(self, pending: Pending, rest: list[Event]) -> None:
        try:
            await pending
        except Exception as exc:
            self._failed(exc)
            return
        finally:
            self._waiting = None
        if self.closing:
            self._end_served()
            return
        assert isinstance(self._stream, SocketStream)
        self._stream.release()
        self._consume(rest)

    def _failed(self, exc: Exception) -> None:
        self._report(exc)
        self._end_served()

    def _report(self, exc: Exception) -> None:
        """What ended the connection, as `run` and `serve` both say it (a violation is answered first)."""
        if isinstance(exc, ProtocolViolation):
            self._violated(str(exc), exc.reason_code)
        elif isinstance(exc, (ConnectionError, OSError)):
            log.debug("%s: connection error %r", self.state.client_id, exc)
        else:
            log.error("%s: handling a packet failed", self.state.client_id, exc_info=exc)

    def _end_served(self) -> None:
        if self._ended:
            return
        self._ended = True
        self._wind_up()
        callback, self._at_end = self._at_end, None
        if callback is not None:
            callback()

    def _violated(self, text: str, reason_code: int) -> None:
        if self.end_reason is None:
            self.end_reason = (ReasonCode.PROTOCOL_ERROR, f"protocol error: {text}")
        if not self.protocol.close_expected():
            self.protocol.send_disconnect(reason_code, reason_string(text))

    async def _handle(self, events: list[Event]) -> None:
        """Act on the events of one read in order; a SUBSCRIBE handled in slices holds back the ones after it."""
        for event in events:
            pending = self._event(event)
            if pending is not None:
                self.pull()  # what the protocol answered so far goes before what the sliced packet sends
                await pending
                if self.closing:
                    return
        self.pull()  # acknowledgements and PINGRESPs of this read, after what it routed

    def _event(self, event: Event) -> Pending | None:
        state = self.state
        if isinstance(event, Publish):
            external = self._sink.external_sessions
            if external and state in external and event.packet_id not in state.incoming_qos2:
                fetch = self._sink.prefetch(self, event)
                if fetch is not None:
                    return self._when_decided(fetch, lambda decided: self._publish(event, decided.get(event.topic)))
            self._publish(event, None)
        elif isinstance(event, PubAck):
            freed = state.puback(event.packet_id)
            if freed:  # (most PUBACKs free room nobody waits for)
                self._send_all(freed)
        elif isinstance(event, PubRec):
            self._send_all(state.pubrec(event.packet_id, event.reason_code))
        elif isinstance(event, PubRel):
            held = event.packet_id in state.incoming_qos2
            released = state.release_incoming(event.packet_id)
            if released is not None:
                self._sink.route_from(self, released)
            # an MQTT 5 client releasing an id we do not hold (e.g. after PUBREC 0x87, which paho ignores) learns so
            self.protocol.send_pubcomp(event.packet_id, 0 if held else Mqtt5Reason.PACKET_IDENTIFIER_NOT_FOUND)
        elif isinstance(event, PubComp):
            self._send_all(state.pubcomp(event.packet_id))
        elif isinstance(event, Subscribe):
            self._check_filter_count("SUBSCRIBE", len(event.subscriptions))
            fetch = self._sink.prefetch(self, event)
            if fetch is not None:
                return self._when_decided(fetch, lambda decided: self._sink.on_subscribe(self, event, decided))
            return self._sink.on_subscribe(self, event)
        elif isinstance(event, Unsubscribe):
            self._check_filter_count("UNSUBSCRIBE", len(event.topic_filters))
            self._sink.on_unsubscribe(self, event)
        elif isinstance(event, Disconnect):
            self._disconnected(event)
        elif isinstance(event, ProtocolErrorOccurred):
            if event.reason_code == Mqtt5Reason.PACKET_TOO_LARGE and self.state.counts is not None:
                self.state.counts.count(LimitEvent.PACKET_TOO_LARGE)  # logged as this session's end
            if self.end_reason is None:
                self.end_reason = (ReasonCode.PROTOCOL_ERROR, f"protocol error: {event.text}")
            self.protocol.send_error_disconnect()  # behind the answers to the packets before it, all queued now
        elif isinstance(event, Auth):
            raise ProtocolViolation("AUTH on a connection that did not authenticate with a method",
                                    Mqtt5Reason.PROTOCOL_ERROR)
        elif isinstance(event, PingReq):
            self.protocol.send_pingresp()
        return None

    def _publish(self, publish: Publish, decided: Decision | None) -> None:
        if publish.qos == 2:
            self._receive_qos2(publish, decided)
        else:
            self._receive(publish, decided)

    async def _when_decided(self, fetch: Coroutine[Any, Any, Decided],
                            then: Callable[[Decided], Pending | None]) -> None:
        decided = await fetch
        if self.closing:
            return
        pending = then(decided)
        if pending is not None:
            await pending

    def _check_filter_count(self, packet: str, count: int) -> None:
        limit = self.state.limits.max_subscriptions_per_packet
        if count > limit:
            raise ProtocolViolation(f"{packet} with more than {limit:,} topic filters (max_subscriptions_per_packet)",
                                    Mqtt5Reason.QUOTA_EXCEEDED)

    def _disconnected(self, disconnect: Disconnect) -> None:
        if disconnect.session_expiry_interval is not None:
            self.state.session_expiry = disconnect.session_expiry_interval  # [MQTT-3.14.2.2.2]
        if disconnect.reason_code == Mqtt5Reason.DISCONNECT_WITH_WILL:  # clean, but wants the will published
            self.will_wanted = True
        else:
            self.clean_disconnect = True  # [MQTT-3.14.4-3]: the will is discarded

    def _refusal(self, decision: Decision) -> tuple[int, str | None]:
        return mqtt5_topic_refusal_code(decision.reason.code, decision.kind), decision.reason_string()

    def _receive(self, publish: Publish, decided: Decision | None = None) -> None:
        decision = self._sink.admit_publish(self, publish, decided)
        if decision.allowed:
            self._sink.route(publish, self.state.client_id)
        if publish.qos == 1:
            assert publish.packet_id is not None
            if decision.allowed or self.version != wf.MQTT_5:
                self.protocol.send_puback(publish.packet_id)
            else:
                self.protocol.send_puback(publish.packet_id, *self._refusal(decision))

    def _receive_qos2(self, publish: Publish, decided: Decision | None = None) -> None:
        """Exactly once: decided and logged now, kept until PUBREL, routed then.

        MQTT 5 refuses with PUBREC 0x87 and the sentence, which ends the exchange. 3.1.1 has no negative
        acknowledgement, and a client without its PUBREC would resend forever: a refused message gets PUBREC all the
        same, but only its packet id is kept, so PUBREL gets PUBCOMP and nothing is routed. A PUBLISH resent with an
        id still held is acknowledged again and not decided twice [MQTT-4.3.3-2].
        """
        packet_id = publish.packet_id
        assert packet_id is not None
        if packet_id not in self.state.incoming_qos2:
            decision = self._sink.admit_publish(self, publish, decided)
            if not decision.allowed and self.version == wf.MQTT_5:
                self.protocol.send_pubrec(packet_id, *self._refusal(decision))
                return
            exceeded = self.state.hold_incoming(packet_id, publish if decision.allowed else None)
            if exceeded is not None:
                raise ProtocolViolation(exceeded, Mqtt5Reason.QUOTA_EXCEEDED)
        self.protocol.send_pubrec(packet_id)

    def _send_all(self, packets: Sequence[bytes]) -> None:
        for packet in packets:
            self.send(packet)
