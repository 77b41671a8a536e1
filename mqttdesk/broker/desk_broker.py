"""`DeskBroker`: our MQTT 3.1.1 and MQTT 5 broker, wired to the pipeline: listeners, the connection flow, sessions.

mqttdesk began as amqtt 0.12.1 with its session layer replaced, because that layer cannot be corrected piecemeal
(each point verified with real clients; see tests/integration/test_conformance_*):

- it deletes or takes over a session *before* authenticating, so a wrong password could wipe another client's
  subscriptions: here the CONNECT is decided by `AuthPipeline` first, and only an accepted one touches sessions;
- a refused CONNECT always gets CONNACK 5: here the code comes from the decision (2, 4 or 5);
- keep-alive is never enforced, so a silent client stays "online" forever and its will is never published;
- in-flight QoS 1/2 messages are dropped when a connection ends and acknowledgements time out after 5 s, so
  nothing is redelivered, and offline messages are delivered with the retain flag set;
- a resumed session is sent the retained messages of *every* subscription in the broker;
- the publish QoS is lost on the way to subscribers (they always get their subscription's QoS);
- every message is matched against every subscription filter, and spawns a task per subscriber.

Nothing of amqtt runs any more: the listeners are ours too (`listeners.py`: TCP, TLS with our own handshake,
WebSocket), every connection reaches `_stream_connected` as a `Stream` (`transport.py`), and its bytes are decoded
by the sans-I/O protocol core (`protocol/`), which gives the same events for both MQTT versions. This module adds
what MQTT 5 asks of the session around them: the decision's reason code and sentence on CONNACK, the assigned
client identifier, Response Information where the grant allows it, session expiry and the will delay (timers per
clientId, cancelled when the client is back).

Before any credential work a CONNECT passes the login guard (`auth/login_guard.py`): a banned address, username or
clientId is refused at once, an address throttled after failed logins after its delay, neither with a hash; the
decision goes back to the guard, and a clientId that keeps reconnecting is slowed or banned before its session opens.

This module is the connection flow (CONNECT to the end of a session, take-over, kick, shutdown); what happens to
PUBLISH, SUBSCRIBE and UNSUBSCRIBE on a live connection, and who receives a message, is `router.py`; how many
sockets may wait for their CONNECT, and for how long, is `admission.py`.
"""

from __future__ import annotations

import asyncio
import collections
import enum
import logging
import secrets
import ssl
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from mqttdesk.auth.login_guard import LoginGuard, Ticket
from mqttdesk.auth.pipeline import AuthPipeline, CheckedPassword
from mqttdesk.auth.recorder import DecisionRecorder
from mqttdesk.auth.verifier import Verdict
from mqttdesk.broker.accept_errors import AcceptErrorFilter
from mqttdesk.broker.admission import Admission, OpenConnections, file_descriptor_limit
from mqttdesk.broker.clock_jumps import ClockJumps
from mqttdesk.broker.connection import Connection
from mqttdesk.broker.limit_counts import LimitEvent
from mqttdesk.broker.listeners import Listeners, ListenerSpec
from mqttdesk.broker.protocol import (
    EMPTY_PROPERTIES,
    Connect,
    Properties,
    ProtocolErrorOccurred,
    Publish,
    ServerProtocol,
    Will,
)
from mqttdesk.broker.protocol import wire_format as wf
from mqttdesk.broker.protocol.reason_codes import Mqtt5Reason
from mqttdesk.broker.registry import LiveSession, SessionRegistry
from mqttdesk.broker.router import MessageMonitor, Router
from mqttdesk.broker.session_state import MAX_INCOMING_QOS2, NEVER_EXPIRES, SessionLimits, SessionState
from mqttdesk.broker.tls import ContextHolder, HandshakeFailed
from mqttdesk.broker.transport import ListenerInfo, SocketStream, Stream, format_address
from mqttdesk.core.clip import SENTENCE_LENGTH, clip
from mqttdesk.core.decide import password_hash_for
from mqttdesk.core.decision import (
    MQTT_5,
    MQTT_311,
    ConnectRequest,
    Decision,
    Grant,
    Kind,
    PeerCertificate,
    session_ended,
)
from mqttdesk.core.guard import Gate
from mqttdesk.core.limits import AdmissionLimits, BrokerLimits
from mqttdesk.core.model import CredentialKind, CredentialRef
from mqttdesk.core.reasons import Reason, ReasonCode, mqtt5_connack_code
from mqttdesk.core.sources import source_of
from mqttdesk.core.tokens import TOKEN_IN_USERNAME, looks_like_token

log = logging.getLogger(__name__)

TOPIC_ALIAS_MAXIMUM = 32  # MQTT 5 topic aliases a client may set up with us (announced in CONNACK)
# MQTT 5 Response Information for a client that requests it: where its responses may go. Per clientId, so that a
# role can give every client its own with one rule (`allow ROLE 'response/%c/#' readwrite`) and no two clients share
# one; told only to a client whose grant may subscribe to it (see `_response_information`).
RESPONSE_TOPIC_PREFIX = "response/{client_id}/"

ENDINGS_PER_TURN = 50  # see `DeskBroker._close_books`


class _Incomplete(enum.Enum):
    """What `_take_connect` says while the CONNECT is not whole yet."""

    INCOMPLETE = enum.auto()


_INCOMPLETE = _Incomplete.INCOMPLETE

# session ends logged as refusals: forced by the broker, or the client broke the protocol
_REFUSED_ENDS = frozenset({ReasonCode.KICKED, ReasonCode.CREDENTIAL_CHANGED, ReasonCode.TAKEN_OVER,
                           ReasonCode.PROTOCOL_ERROR, ReasonCode.CERT_EXPIRED, ReasonCode.TOKEN_EXPIRED,
                           ReasonCode.EXTERNAL_DENIED, ReasonCode.BANNED})


class _ClientGate:
    """Serialises the CONNECTs of one clientId: the first goes in at once, later ones wait their turn in order.

    A plain asyncio.Lock per CONNECT was a measurable share of a sequential connect; this one costs nothing until
    a second CONNECT for the same clientId arrives while the first is being decided. `users` counts who holds or
    waits for it (to know when to drop it).
    """

    __slots__ = ("busy", "users", "_waiters")

    def __init__(self) -> None:
        self.busy = False
        self.users = 0
        self._waiters: collections.deque[asyncio.Future[None]] | None = None  # made on the first contention

    async def __aenter__(self) -> None:
        if not self.busy:
            self.busy = True
            return
        waiter = asyncio.get_running_loop().create_future()
        if self._waiters is None:
            self._waiters = collections.deque()
        waiters = self._waiters
        waiters.append(waiter)
        try:
            await waiter  # handed over by the one before: `busy` stays set
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._hand_over()  # it was our turn: pass it on
            else:
                waiters.remove(waiter)
            raise

    async def __aexit__(self, *exc_info: object) -> None:
        self._hand_over()

    def _hand_over(self) -> None:
        waiters = self._waiters
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self.busy = False


class DeskBroker:
    def __init__(
        self,
        *,
        pipeline: AuthPipeline,
        recorder: DecisionRecorder,
        registry: SessionRegistry,
        limits: SessionLimits | None = None,
        admission: AdmissionLimits | None = None,
        guard: LoginGuard,
        broker_limits: BrokerLimits | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.guard = guard
        self.recorder = recorder
        self.registry = registry
        self.limits = limits or SessionLimits()
        self.broker_limits = broker_limits or BrokerLimits()
        self.counts = registry.limit_counts
        self.open_connections = OpenConnections(self.broker_limits)
        self._holders = registry.holders()
        self._states: dict[str, SessionState] = {}
        self._connections: dict[str, Connection] = {}
        self._connection_tasks: set[asyncio.Task[Any]] = set()
        # served connections that ended, whose books `_close_books` closes a few a loop turn (see there)
        self._endings: collections.deque[_Ending] = collections.deque()
        self._client_gates: dict[str, _ClientGate] = {}
        self._will_timers: dict[str, tuple[asyncio.TimerHandle, Will]] = {}  # MQTT 5 will delay, by clientId
        self._expiry_timers: dict[str, asyncio.TimerHandle] = {}  # MQTT 5 session expiry, by clientId
        self.router = Router(pipeline, recorder, registry, self._connections, self.broker_limits)
        fd_limit = file_descriptor_limit()
        self.admission = Admission(admission or AdmissionLimits(), fd_limit, self._record_too_many_pending,
                                   counts=self.counts)
        self._fd_limit = fd_limit
        self._accept_errors: AcceptErrorFilter | None = None
        self._listeners = Listeners(self._stream_connected)
        self.clock_jumps: ClockJumps | None = None  # from the first listener on (it needs the running loop)
        # one bound method each for every connection (made per connection, they were 128 bytes of each idle client):
        # the loop's clock, which keep-alive timers run on (set with the first listener), and the clock-jump check
        self._loop_time: Callable[[], float] = time.monotonic
        self._clock_jumped_check = self._clock_jumped

    # -- listeners ------------------------------------------------------------------------------

    async def start_listener(self, spec: ListenerSpec, context: ssl.SSLContext | ContextHolder | None = None) -> None:
        """Listen as `spec` says (a TLS or WSS listener needs `context`); OSError when it cannot bind."""
        if self._accept_errors is None:
            # out of descriptors, asyncio prints a traceback per failed accept: one line instead (accept_errors.py)
            self._accept_errors = AcceptErrorFilter(asyncio.get_running_loop(), self._fd_limit)
            self._accept_errors.install()
        if self.clock_jumps is None:
            self._loop_time = asyncio.get_running_loop().time
            self.clock_jumps = ClockJumps(asyncio.get_running_loop(), self._fresh_keep_alive)
            self.clock_jumps.start()
        await self._listeners.start(spec, context)

    def _clock_jumped(self) -> bool:
        """Asked by a connection before its keep-alive ends it: a jump gives every session a fresh period first."""
        return self.clock_jumps is not None and self.clock_jumps.check()

    def _fresh_keep_alive(self, gap: float) -> None:
        """The loop's clock jumped `gap` seconds (clock_jumps.py): the silence was ours, not the clients'."""
        for connection in list(self._connections.values()):
            connection.restart_keep_alive()

    def listener_specs(self) -> list[ListenerSpec]:
        return self._listeners.specs()

    async def stop_listener(self, name: str, why: str) -> None:
        """Stop one listener and end the sessions that came through it (the others stay connected); they close as
        after a kick, without waiting here."""
        await self._listeners.stop(name)
        for connection in [c for c in self._connections.values() if c.state.live.listener == name]:
            connection.end(ReasonCode.BROKER_STOPPED, why)

    def bound_listeners(self) -> list[ListenerInfo]:
        """Every listener's name, kind and the address actually listened on (port 0 becomes the real port)."""
        return self._listeners.bound()

    def bound_addresses(self) -> list[tuple[str, int]]:
        """The (host, port) pairs actually listened on."""
        return [(info.host, info.port) for info in self._listeners.bound()]

    def _record_tls_failure(self, stream: Stream, why: str, hint: str | None = None) -> None:
        """A failed TLS handshake is a refused CONNECT: nothing MQTT was read, no CONNACK can be sent."""
        address = stream.peer[0]
        listener = stream.listener
        where = f"listener '{listener.name}' ({format_address(listener.host, listener.port)})"
        steps = (f"TLS handshake from {format_address(*stream.peer)} on {where}", f"refused: {why}",
                 *((f"hint: {hint}",) if hint else ()))
        log.info("TLS handshake from %s failed: %s", address, why)
        self.recorder.record(Decision(
            kind=Kind.CONNECT, allowed=False, reason=Reason(ReasonCode.TLS_HANDSHAKE_FAILED, why),
            client_id="", address=address, steps=steps, connack=None,
        ))

    # -- a connection, from CONNECT to the end ------------------------------------------------------

    async def _stream_connected(self, stream: Stream) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._connection_tasks.add(task)
        served = False
        try:
            served = await self._serve_connection(stream)
        except (ConnectionError, OSError, asyncio.IncompleteReadError) as exc:
            log.debug("connection ended with %r", exc)
        finally:
            if task is not None:
                self._connection_tasks.discard(task)
            if not served and not stream.is_closing():
                stream.close()

    def _near_descriptor_limit(self) -> bool:
        # a socket per connection, open or waiting: only past half the limit is a descriptor worth asking for
        # (on uvloop, asking makes an object that then stays with the connection)
        return self._fd_limit is not None and 2 * (self.open_connections.total + self.admission.pending) \
            >= self._fd_limit

    async def _serve_connection(self, stream: Stream) -> bool:
        """Admit, read the CONNECT, decide and serve; True when the session goes on being served by the stream's
        callbacks after this returns (`Connection.serve`), False when the connection is over."""
        address = stream.peer[0]
        if self._accept_errors is not None and self._near_descriptor_limit():
            self._accept_errors.accepted(stream.descriptor())
        waiting = self.admission.admit(address, stream.has_unread)
        if waiting is None:  # over a cap: closed at once; nothing was read, so there is nobody to answer
            stream.abort()
            return False
        protocol = ServerProtocol(maximum_packet_size=self.limits.max_packet_size, receive_maximum=MAX_INCOMING_QOS2,
                                  topic_alias_maximum=TOPIC_ALIAS_MAXIMUM,
                                  clock=self._loop_time)  # keep-alive timers are the loop's
        # the CONNECT is often there already (a client sends it right behind the TCP handshake): no deadline then
        at_hand = stream.take_at_hand() if isinstance(stream, SocketStream) else b""
        try:
            connect = self._take_connect(stream, protocol, address, at_hand) if at_hand else _INCOMPLETE
        except BaseException:
            waiting.read_at_once()  # (as `async with` would: a place in the caps is never lost)
            raise
        try:
            if connect is _INCOMPLETE:
                async with waiting:  # counts against the caps until the CONNECT is read, within its deadline
                    await stream.handshake()  # TLS: ours, so that a failure is in the Auth log
                    connect = await self._read_connect(stream, protocol, address)
            else:
                waiting.read_at_once()
        except HandshakeFailed as exc:
            self._record_tls_failure(stream, str(exc), exc.hint)
            stream.abort()
            return False
        except (TimeoutError, ConnectionError) as exc:
            log.info("dropping %s: no CONNECT (%s)", address, exc or type(exc).__name__)
            stream.close()
            return False
        if not isinstance(connect, Connect):  # ended without one (answered already, if there was anything to say)
            return False
        over = self.open_connections.refusal(address)
        if over is not None:  # a CONNACK says why: unlike a socket that sent nothing, this client is listening
            event, why = over
            self.counts.count(event)  # the Auth log has the entry (repeats from one address fold there)
            code = ReasonCode.TOO_MANY_CONNECTIONS if event is LimitEvent.CONNECTIONS else \
                ReasonCode.TOO_MANY_FROM_ADDRESS
            read = _what_was_read(connect.protocol_version, connect.client_id, shown_username(connect.username))
            refusal = replace(_refused_before_credentials(connect, address, code, why, connack=3), steps=(
                f"CONNECT from {address}: {read}", f"refused before any credential was checked: {why}"))
            self.recorder.record(refusal)
            self._refuse(stream, protocol, refusal)
            return False
        self.open_connections.opened(address)
        del waiting  # (this frame lives as long as the connection)
        served = False
        try:
            served = await self._serve_connected(stream, protocol, connect, address)
        finally:
            if not served:  # (else `_connection_ended` does it)
                self.open_connections.closed(address)
        return served

    async def _serve_connected(self, stream: Stream, protocol: ServerProtocol, connect: Connect,
                               address: str) -> bool:
        """A CONNECT was read and the connection counts against the broker's bounds: decide it, serve the session
        (True: it goes on being served by callbacks, see `_run`)."""
        request = self._request(connect, stream, self.limits.max_keepalive)
        if isinstance(request, Decision):  # refused before any credential is looked at
            self.recorder.record(request)
            self._refuse(stream, protocol, request)
            return False
        gone = stream.closed_by_peer
        # banned, or throttled after failed logins: refused before any credential work (see auth/login_guard.py)
        ticket = self.guard.before_check(request)
        if ticket.gate.refused:
            await self.guard.hold(ticket.gate.delay, request, gone)
            self._refuse_by_guard(stream, protocol, request, ticket.gate)
            return False
        try:
            # The password first, outside the clientId's lock (queued fairly per address, dropped if the client
            # goes): CONNECTs flooding one clientId must not make its owner wait for all their hashes.
            checked = await self.pipeline.check_password(request, gone, suspect=ticket.gate.suspect,
                                                         trusted=ticket.gate.trusted)
            connection = await self._decide_and_open(stream, protocol, connect, ticket, checked)
        finally:
            self.guard.settle(ticket, None)  # (nothing when the decision was counted)
        if connection is None:
            return False
        del ticket, checked  # this frame may live as long as the connection: keep only what it needs
        return await self._run(connection, request, connect.will)

    async def _decide_and_open(self, stream: Stream, protocol: ServerProtocol, connect: Connect, ticket: Ticket,
                               checked: CheckedPassword) -> Connection | None:
        """Decide the CONNECT and, when it is accepted, answer it and open its session (None: it was refused)."""
        gone = stream.closed_by_peer
        request = ticket.request
        address = request.address
        # One CONNECT per clientId at a time, from the decision until the session is in the registry: two
        # devices racing for one id must not both get it, and a queued CONNECT must see the one before it.
        gate = self._client_gates.get(request.client_id)
        if gate is None:
            gate = self._client_gates[request.client_id] = _ClientGate()
        gate.users += 1
        try:
            async with gate:
                # flapping: an accepted CONNECT of a clientId that keeps reconnecting waits, or is refused
                flapping = self.guard.before_session(request) if checked.verdict is not Verdict.WRONG else None
                if flapping is not None and flapping.refused:
                    self.guard.settle(ticket, None)
                    self._refuse_by_guard(stream, protocol, request, flapping)
                    return None
                if flapping is not None and flapping.delay:
                    await self.guard.hold(flapping.delay, request, gone)
                decision = await self.pipeline.decide_connect(request, self._holders, gone=gone, checked=checked)
                decision = self.guard.settle(ticket, decision) or decision
                if decision.allowed:
                    self.guard.session_opened(request)
                    if flapping is not None and flapping.text:
                        decision = replace(decision, steps=(*decision.steps, flapping.text))
                if not decision.allowed:
                    self.recorder.record(decision)
                    self._refuse(stream, protocol, decision)
                    return None
                if decision.takes_over is not None:
                    self.recorder.record(decision)  # the log tells of the new connection, then of the session it ends
                    await self.end_session(request.client_id, ReasonCode.TAKEN_OVER,
                                           f"a new connection from {address} took over clientId '{request.client_id}'")
                grant = decision.grant
                assert grant is not None
                if grant.registers is not None:
                    self.recorder.record_registration(self.pipeline.admit_device(grant, address))
                self.pipeline.note_client_id(request.client_id, grant.credential)
                return self._accept(stream, protocol, connect, decision, request)
        finally:
            gate.users -= 1
            if not gate.users and self._client_gates.get(request.client_id) is gate:
                del self._client_gates[request.client_id]  # nobody waits: refused CONNECTs leave nothing behind

    async def _read_connect(self, stream: Stream, protocol: ServerProtocol, address: str) -> Connect | None:
        """Read until the protocol has the CONNECT; None when the connection ended without one (answered already)."""
        while True:
            chunk = await stream.read()
            if not chunk:  # closed before a whole CONNECT arrived: a port probe, nothing worth an Auth log entry
                stream.close()
                return None
            connect = self._take_connect(stream, protocol, address, chunk)
            if connect is not _INCOMPLETE:
                return connect

    def _take_connect(self, stream: Stream, protocol: ServerProtocol, address: str,
                      data: bytes) -> Connect | None | _Incomplete:
        """Feed `data` to the protocol: the CONNECT once it is whole, None when the bytes were not one (answered and
        closed already), `_INCOMPLETE` while more is needed."""
        protocol.receive_data(data)
        for event in protocol.events_received():
            if isinstance(event, Connect):
                return event
            if isinstance(event, ProtocolErrorOccurred):
                self._reject_malformed(stream, protocol, address, event)
                return None
        return _INCOMPLETE

    @staticmethod
    def _request(connect: Connect, stream: Stream, max_keepalive: int) -> ConnectRequest | Decision:
        """The CONNECT as the pipeline sees it, or the refusal of what no credential check can admit."""
        address, tls = stream.peer[0], stream.tls
        client_id, assigned = connect.client_id, False
        # an empty id gets one of ours: with clean session in 3.1.1 [MQTT-3.1.3-6], always in MQTT 5 [MQTT-3.1.3-6]
        if not client_id and (connect.clean_start or connect.protocol_version == wf.MQTT_5):
            client_id, assigned = assigned_client_id(), True
        password: str | None = None
        if connect.password is not None:
            try:
                password = connect.password.decode("utf-8")
            except UnicodeDecodeError:
                return _refused_before_credentials(connect, address, ReasonCode.BAD_PROTOCOL,
                                                   "the password is not UTF-8 text", connack=4)
        if connect.protocol_version != wf.MQTT_5 and connect.keep_alive > max_keepalive:
            # 3.1.1 has no way to tell the client a shorter one: refused, as Mosquitto refuses it (identifier
            # rejected is what its CONNACK says; the sentence says why)
            return _refused_before_credentials(
                connect, address, ReasonCode.KEEPALIVE_TOO_LONG,
                f"the client asks for a keep-alive of {connect.keep_alive} s, longer than the broker's maximum of "
                f"{max_keepalive} s (max_keepalive)", connack=2)
        method = connect.properties.authentication_method
        if method is not None:
            return _refused_before_credentials(
                connect, address, ReasonCode.BAD_AUTH_METHOD,
                f"enhanced authentication (method '{clip(method, 64)}') is not supported: connect with a username "
                "and password", connack=5)
        return ConnectRequest(
            client_id=client_id, username=connect.username, password=password, address=address,
            clean_session=connect.clean_start, client_id_assigned=assigned,
            will_topic=connect.will.topic if connect.will is not None else None,
            protocol=protocol_label(connect.protocol_version),
            listener=stream.listener.name,
            transport=stream.listener.kind,
            tls_version=tls.version if tls else None,
            peer_certificate_subject=tls.peer_subject if tls else None,
            listener_address=format_address(stream.listener.host, stream.listener.port),
            certificate=_peer_certificate(tls.peer_der) if tls is not None and tls.peer_der else None,
        )

    def _reject_malformed(self, stream: Stream, protocol: ServerProtocol, address: str,
                          error: ProtocolErrorOccurred) -> None:
        why, pending = error.text, protocol.data_to_send()
        if error.reason_code == Mqtt5Reason.PACKET_TOO_LARGE:
            self.counts.count(LimitEvent.PACKET_TOO_LARGE)  # the Auth log entry below says why
        if protocol.connect is None and "CONNECT" not in why:
            why = f"malformed CONNECT: {why}"
        username = shown_username(error.username)
        read = _what_was_read(error.protocol_version, error.client_id, username)
        log.info("refusing %s: %s", address, clip(why, SENTENCE_LENGTH))  # a protocol name can be 64 KB
        self.recorder.record(Decision(
            kind=Kind.CONNECT, allowed=False, reason=Reason(ReasonCode.BAD_PROTOCOL, why),
            client_id=error.client_id or "", username=username, address=address,
            protocol=protocol_label(error.protocol_version) if error.protocol_version in (4, 5) else None,
            steps=((f"CONNECT read up to the fault: {read}",) if read else ()) + (why,),
            connack=_connack_code(pending, protocol.version),
        ))
        _write_and_close(stream, pending)

    def _record_too_many_pending(self, address: str, why: str) -> None:
        """One Auth log entry per address and burst of refusals (see admission.py), not one per socket."""
        self.recorder.record(Decision(
            kind=Kind.CONNECT, allowed=False, reason=Reason(ReasonCode.TOO_MANY_PENDING, why), client_id="",
            address=address, steps=(why, "the connection was closed before anything was read from it"),
        ))

    def _refuse_by_guard(self, stream: Stream, protocol: ServerProtocol, request: ConnectRequest, gate: Gate) -> None:
        """Banned or throttled: logged and answered (MQTT 5: 0x8A or 0x9F with the sentence), nothing checked."""
        refusal = self.guard.refusal(request, gate, self.pipeline.directory)
        self.recorder.record(refusal)
        self._refuse(stream, protocol, refusal)

    @staticmethod
    def _refuse(stream: Stream, protocol: ServerProtocol, decision: Decision) -> None:
        """Answer a refused CONNECT: the CONNACK (an MQTT 5 client also gets the sentence) and close.

        Nothing is sent to a client that has gone already."""
        if decision.reason_code is not ReasonCode.CLIENT_GONE:
            code = mqtt5_connack_code(decision.reason_code)
            if decision.reason_code is ReasonCode.BAD_PROTOCOL and decision.connack in _MQTT5_BY_CONNACK:
                code = _MQTT5_BY_CONNACK[decision.connack]
            protocol.send_connack(code, properties=Properties(reason_string=decision.reason_string()))
        _write_and_close(stream, protocol.data_to_send())

    def _accept(self, stream: Stream, protocol: ServerProtocol, connect: Connect, decision: Decision,
                request: ConnectRequest) -> Connection:
        """Answer an accepted CONNECT, then open its session and keep its books.

        The CONNACK goes out first: the client needs a round trip before it says anything more, and the session and
        the books (Auth log entry, credential use, clientId owner, the Clients list) fill it instead of delaying
        the answer (with the CONNECT read at hand, see `_serve_connection`: 10 % more sequential connects a second
        in 24 paired runs of 500). Nothing awaits from the decision to the end of this, under the clientId's gate:
        no other packet, of this client or any other, is handled in between, and what the client sent behind its
        CONNECT is handled once the session is there.
        """
        grant = decision.grant
        assert grant is not None
        client_id = request.client_id
        # a virtual (unregistered bootstrap) device never keeps a session, whatever it asked for
        fresh = connect.clean_start or grant.virtual
        kept = self._states.get(client_id)
        # the decision refuses another identity's session; should one get here, it starts afresh, never with
        # someone else's subscriptions and queued messages
        replaced = kept is not None and (fresh or kept.grant.credential != grant.credential)
        protocol.send_connack(0, session_present=kept is not None and not replaced,
                              properties=self._connack_properties(connect, request, grant, protocol))
        connack = protocol.data_to_send()
        if not stream.is_closing():
            stream.write(connack[0] if len(connack) == 1 else b"".join(connack))
        if decision.takes_over is None:  # (a take-over's was recorded before the session it took over ended)
            self.recorder.record(decision)
        if kept is not None and replaced:
            self._drop_state(kept, "discarded: the client asked for a clean session" if fresh else
                             "discarded: another credential connected with this clientId")
            kept = None
        connection = self._open_session(stream, protocol, connect, grant, request, kept, fresh)
        self._book_accepted(connection.state.live)
        return connection

    def _connack_properties(self, connect: Connect, request: ConnectRequest, grant: Grant,
                            protocol: ServerProtocol) -> Properties:
        if connect.protocol_version != wf.MQTT_5:
            return EMPTY_PROPERTIES
        assigned = request.client_id if request.client_id_assigned else None  # [MQTT-3.2.2-16]
        maximum = self.limits.max_keepalive
        # [MQTT-3.2.2-21]: the Server Keep Alive replaces the client's: for one asking for more, or for none
        server_keep_alive = maximum if maximum < 65535 and not 0 < connect.keep_alive <= maximum else None
        response = self._response_information(request.client_id, grant) if protocol.request_response_information \
            else None
        if assigned is None and server_keep_alive is None and response is None:
            return EMPTY_PROPERTIES
        return Properties(assigned_client_identifier=assigned, server_keep_alive=server_keep_alive,
                          response_information=response)

    def _open_session(self, stream: Stream, protocol: ServerProtocol, connect: Connect, grant: Grant,
                      request: ConnectRequest, state: SessionState | None, fresh: bool) -> Connection:
        """Create the session of an accepted CONNECT, or resume `state` (the only place that touches sessions);
        `fresh`: the client asked for a clean session, or may not keep one (see `_accept`)."""
        client_id = request.client_id
        version = connect.protocol_version
        if version == wf.MQTT_5:
            expiry = connect.properties.session_expiry_interval or 0
            ends_with_connection = expiry == 0 or grant.virtual
        else:
            expiry = NEVER_EXPIRES
            ends_with_connection = fresh
        self._cancel_timers(client_id)  # back in time: its session does not expire, its delayed will is not sent
        live = LiveSession(
            client_id=client_id,
            # the CONNECT's, the user its client certificate names, or a token's subject (never the token: a client
            # may send it as the username)
            username=grant.username,
            method=grant.method.value,
            address=request.address,
            connected_since=time.time(),
            clean_session=ends_with_connection,
            grant=grant,
            password_hash=password_hash_for(request, self.pipeline.directory),
            virtual=grant.virtual,
            listener=stream.listener.name,
            transport=stream.listener.kind,
            protocol=request.protocol,
        )
        if state is None:
            state = SessionState(client_id, ends_with_connection, grant, live, self.limits, counts=self.counts)
            state.permission = self.router
            self._states[client_id] = state
        else:
            state.grant, state.live, state.clean_session = grant, live, ends_with_connection
        state.session_expiry = expiry
        self.router.grant_changed(state)
        state.attach(version, protocol.client_receive_maximum, protocol.client_maximum_packet_size,
                     protocol.client_topic_alias_maximum)
        live.session = state  # the record reads the session's subscriptions and queue, never a copy
        connection = Connection(stream, protocol, state, self.router, clock_jumped=self._clock_jumped_check)
        self._connections[client_id] = connection
        return connection

    async def _run(self, connection: Connection, request: ConnectRequest, will: Will | None) -> bool:
        """Serve an answered CONNECT: a TCP or TLS connection by its stream's callbacks (True: it runs on, with no
        task, and `_connection_ended` closes its books), a WebSocket one here until it ends (False)."""
        state = connection.state
        connection.pull()
        for packet in state.resume():
            connection.send(packet)
        # what the session had in flight, right behind its CONNACK rather than with everyone's writes at the end of
        # the loop turn
        connection.flush()
        expiry = self._end_when_invalid(connection)
        recheck = None
        if state.grant.credential.kind is CredentialKind.EXTERNAL:
            recheck = asyncio.ensure_future(self._recheck_external(connection, request))
        stream = connection.stream
        if isinstance(stream, SocketStream):
            # only the will is kept for the end: not the CONNECT, with its password, for the life of the connection
            connection.serve(stream, _Ending(self, connection, will, expiry, recheck))
            return True
        try:
            await connection.run()
        finally:
            self._connection_ended(connection, will, expiry, recheck, False)
        return False

    def _book_accepted(self, live: LiveSession) -> None:
        """The books of an accepted CONNECT, kept once its CONNACK is on its way (see `_accept`)."""
        registered_by = live.grant.registers
        used = CredentialRef(CredentialKind.BOOTSTRAP, registered_by) if registered_by else live.credential
        self.recorder.record_use(used, live.address)
        self.recorder.record_client_id(live.client_id, live.credential)
        self.registry.add(live)  # the window's Clients tab (the broker's own lookups are `_connections`)

    def _ended_served(self, ending: _Ending) -> None:
        self._endings.append(ending)
        if len(self._endings) == 1:
            asyncio.get_running_loop().call_soon(self._close_books)

    def _close_books(self) -> None:
        """The endings of served connections, ENDINGS_PER_TURN at a time: a thousand clients that leave at once
        arrive as a thousand socket callbacks in one pass of the window's event loop, and closing their books (the
        will, the session, the registry, the Auth log) in the same pass adds to that pass. Each connection is
        `finished` once its books are closed, so a takeover or a shutdown still waits for them."""
        endings = self._endings
        for _ in range(min(len(endings), ENDINGS_PER_TURN)):
            ending = endings[0]
            try:
                self._connection_ended(ending.connection, ending.will, ending.expiry, ending.recheck, True)
            except Exception:  # one session's books must not keep the others' open
                log.exception("closing the session of %s failed", ending.connection.state.client_id)
            finally:
                endings.popleft()
                ending.connection.set_finished()
        if endings:
            asyncio.get_running_loop().call_soon(self._close_books)

    def _connection_ended(self, connection: Connection, will: Will | None, expiry: asyncio.TimerHandle | None,
                          recheck: asyncio.Future[None] | None, served: bool) -> None:
        if expiry is not None:
            expiry.cancel()
        if recheck is not None:
            recheck.cancel()
        self._finish(connection, will)
        if served:  # (a connection served until it ended is counted out by `_serve_connection`)
            self.open_connections.closed(connection.stream.peer[0])

    async def _recheck_external(self, connection: Connection, request: ConnectRequest) -> None:
        """The external service's allow of a session holds for its cache time: then it is asked again, and a
        refusal ends the session (a service that cannot answer leaves it be: it answers the next time)."""
        while not connection.closing:
            await asyncio.sleep(max(1, self.pipeline.directory.external.cache_seconds))
            answer = await self.pipeline.recheck_external(request)
            if answer.code is ReasonCode.EXTERNAL_DENIED:
                connection.end(ReasonCode.EXTERNAL_DENIED, f"the external HTTP service no longer admits external "
                               f"user '{request.username}' ({answer.text})")
                return

    @staticmethod
    def _end_when_invalid(connection: Connection) -> asyncio.TimerHandle | None:
        """A session admitted by a credential that expires — a client certificate, a token's `exp` — ends when it
        does (MQTT 5: DISCONNECT 0xA0, Maximum connect time, with the sentence)."""
        grant = connection.state.grant
        if grant.valid_until is None:
            return None
        code, text = source_of(grant.credential.kind).expired(grant)  # the source says why its credential ended
        delay = max(0.0, grant.valid_until - time.time())
        return asyncio.get_running_loop().call_later(delay, connection.end, code, text)

    def _response_information(self, client_id: str, grant: Grant) -> str | None:
        """The Response Information for a client that asked for it [MQTT-3.1.2-28], or None: a prefix it may not
        subscribe to would only send its requests' answers where it can never read them, which is worse than none
        (the spec lets the server send none)."""
        prefix = RESPONSE_TOPIC_PREFIX.format(client_id=client_id)
        if self.pipeline.decide_topic(Kind.SUBSCRIBE, grant, prefix + "#").allowed:
            return prefix
        return None

    def _finish(self, connection: Connection, will: Will | None) -> None:
        state = connection.state
        live = state.live
        state.disconnected()
        if self._connections.get(state.client_id) is connection:
            del self._connections[state.client_id]
        if connection.clean_disconnect:
            code, text = ReasonCode.CLIENT_DISCONNECT, "the client disconnected"
        elif connection.will_wanted:
            code, text = ReasonCode.CLIENT_DISCONNECT, "the client disconnected and asked for its will to be sent"
        else:
            code, text = connection.end_reason or (ReasonCode.CONNECTION_LOST, "the connection was lost")
        kept = self._states.get(state.client_id) is state
        ends = state.clean_session or (state.version == wf.MQTT_5 and state.session_expiry == 0)
        if will is not None and not connection.clean_disconnect and code is not ReasonCode.BROKER_STOPPED:
            self._will_after(state, will, 0 if ends or not kept else will.delay_interval)
        if ends and kept:
            self._drop_state(state)
            kept = False
        kind = Kind.KICK if code is ReasonCode.KICKED else Kind.DISCONNECT
        self.recorder.record(session_ended(
            kind, code, text, client_id=live.client_id, username=live.username, method=live.grant.method,
            address=live.address, forced=code in _REFUSED_ENDS, protocol=live.protocol,
        ))
        self.registry.remove(live.client_id, live, text)
        if kept and state.live is live:
            self.registry.park(live)
            if state.session_expiry != NEVER_EXPIRES:
                self._expiry_timers[state.client_id] = asyncio.get_running_loop().call_later(
                    state.session_expiry, self._expire, state)

    def _expire(self, state: SessionState) -> None:
        """MQTT 5 session expiry: the session kept for a client that did not come back in time ends now."""
        self._expiry_timers.pop(state.client_id, None)
        if self._states.get(state.client_id) is state and not state.connected:
            self._drop_state(state, f"expired: the client did not return within {state.session_expiry:,} s "
                                    "(session expiry interval)")

    def _will_after(self, state: SessionState, will: Will, delay: int) -> None:
        """Publish the will now, or after the MQTT 5 will delay interval unless the client is back by then."""
        if delay <= 0:
            self._publish_will(state, will)
            return
        handle = asyncio.get_running_loop().call_later(delay, self._delayed_will, state, will)
        self._will_timers[state.client_id] = (handle, will)

    def _delayed_will(self, state: SessionState, will: Will) -> None:
        self._will_timers.pop(state.client_id, None)
        self._publish_will(state, will)

    def _cancel_timers(self, client_id: str) -> None:
        pending_will = self._will_timers.pop(client_id, None)
        if pending_will is not None:
            pending_will[0].cancel()
        expiry = self._expiry_timers.pop(client_id, None)
        if expiry is not None:
            expiry.cancel()

    def _drop_state(self, state: SessionState, reason: str = "the session was discarded") -> None:
        self.router.unsubscribe_all(state)
        if self._states.get(state.client_id) is state:
            del self._states[state.client_id]
            expiry = self._expiry_timers.pop(state.client_id, None)
            if expiry is not None:
                expiry.cancel()
            pending_will = self._will_timers.pop(state.client_id, None)
            if pending_will is not None:  # [MQTT-3.1.3-9]: a delayed will is sent when the session ends, if not before
                handle, will = pending_will
                handle.cancel()
                self._publish_will(state, will)
            if not state.connected:
                self.registry.discard(state.client_id, reason)

    def _publish_will(self, state: SessionState, will: Will) -> None:
        """The will is a publish on the client's behalf: checked against its permissions as they are now."""
        decision = self.pipeline.decide_topic(Kind.PUBLISH, state.grant, will.topic)
        if not decision.allowed:
            self.recorder.record(replace(decision, address=state.live.address, protocol=state.live.protocol))
            return
        properties = will.properties
        if properties.will_delay_interval is not None:  # a will property, not one of the PUBLISH it becomes
            properties = replace(properties, will_delay_interval=None)
        self.router.route(Publish(will.topic, will.payload, will.qos, will.retain, properties=properties),
                          origin=state.client_id)

    def route(self, topic: str, payload: bytes, qos: int, retain: bool) -> None:
        """Publish as the broker itself (tests, the topic monitor): see `Router.route`."""
        self.router.route_message(topic, payload, qos, retain)

    @property
    def monitors(self) -> list[MessageMonitor]:
        return self.router.monitors

    # -- ending sessions on demand ------------------------------------------------------------

    async def end_session(self, client_id: str, code: ReasonCode, text: str, *, wait: bool = True) -> bool:
        """Disconnect a live client now (its will is published: it did not say goodbye). False if not connected.

        With `wait`, returns once the session has been fully taken down (will sent, registry updated).
        """
        connection = self._connections.get(client_id)
        if connection is None:
            return False
        connection.end(code, text)
        if wait:
            try:
                await asyncio.wait_for(connection.finished.wait(), timeout=5)
            except TimeoutError:
                log.warning("session %s did not end within 5 s", client_id)
        return True

    def offline_sessions(self) -> list[SessionState]:
        """Persistent sessions kept for clients that are not connected now."""
        return [state for state in self._states.values() if not state.connected]

    def forget_session(self, state: SessionState, reason: str = "its credential no longer admits it") -> None:
        """Drop a persistent session and what it queued (its credential no longer admits it)."""
        if not state.connected:
            self._drop_state(state, reason)

    def discard_session(self, client_id: str, reason: str) -> SessionState | None:
        """Drop the kept session of a client that is away (an administrator's decision); None when there is none."""
        state = self._states.get(client_id)
        if state is None or state.connected:
            return None
        self._drop_state(state, reason)
        return state

    def session_state(self, client_id: str) -> SessionState | None:
        return self._states.get(client_id)

    def persistent_states(self) -> dict[str, SessionState]:
        """The sessions that outlive their connection (what persistence keeps), connected or not."""
        return {client_id: state for client_id, state in self._states.items()
                if not state.clean_session and not (state.version == wf.MQTT_5 and state.session_expiry == 0)}

    def adopt_session(self, state: SessionState, expires_in: float | None) -> None:
        """A persistent session read back after a restart (before the listeners start): kept for its client as if
        it had just gone away; an MQTT 5 one expires `expires_in` seconds from now (None: never)."""
        state.permission = self.router
        self._states[state.client_id] = state
        self.router.adopt(state)
        self.registry.park(state.live, since=state.live.offline_since)
        if expires_in is not None:
            self._expiry_timers[state.client_id] = asyncio.get_running_loop().call_later(
                expires_in, self._expire, state)

    async def shutdown(self) -> None:
        self._listeners.stop_accepting()
        for client_id in list(self._will_timers) + list(self._expiry_timers):
            self._cancel_timers(client_id)  # a stopping broker publishes no will (the clients did nothing wrong)
        for connection in list(self._connections.values()):
            connection.end(ReasonCode.BROKER_STOPPED, "the broker stopped")
        pending: list[asyncio.Future[Any]] = [task for task in self._connection_tasks if not task.done()]
        # connections served by callbacks have no task: their ends are waited for
        pending += [asyncio.ensure_future(connection.finished.wait()) for connection in self._connections.values()
                    if not connection.finished.is_set()]
        if pending:
            _, still = await asyncio.wait(pending, timeout=5)
            for task in still:
                task.cancel()
            if still:
                await asyncio.gather(*still, return_exceptions=True)
        await self._listeners.close()
        self.admission.close()
        if self.clock_jumps is not None:
            self.clock_jumps.stop()
        if self._accept_errors is not None:
            self._accept_errors.uninstall()
            self._accept_errors = None


def assigned_client_id() -> str:
    """An id for a client that sent none, as [MQTT-3.1.3-6] (3.1.1, with clean session) and MQTT 5 allow."""
    return "mqttdesk-" + secrets.token_hex(8)


def shown_username(username: str | None) -> str | None:
    """A CONNECT's username as a refusal made before any credential check logs it: a token (clients may send one
    as the username) never reaches the Auth log."""
    return TOKEN_IN_USERNAME if looks_like_token(username) else username


def _refused_before_credentials(connect: Connect, address: str, code: ReasonCode, text: str, *,
                                connack: int) -> Decision:
    username = shown_username(connect.username)
    read = _what_was_read(connect.protocol_version, connect.client_id, username)
    return Decision(kind=Kind.CONNECT, allowed=False, reason=Reason(code, text), client_id=connect.client_id,
                    username=username, address=address, protocol=protocol_label(connect.protocol_version),
                    steps=(f"CONNECT read up to the fault: {read}", f"refused: {text}"), connack=connack)


def _what_was_read(version: int | None, client_id: str | None, username: str | None) -> str:
    """What a refused CONNECT said before the fault: it names the device in the Auth log."""
    return ", ".join(part for part in (
        f"protocol MQTT level {version}" if version else "",
        f"clientId '{client_id}'" if client_id else "",
        f"username '{username}'" if username else "") if part)


# the MQTT 5 code for refusals decided before any credential was looked at, by their 3.1.1 CONNACK code
_MQTT5_BY_CONNACK = {1: 0x84, 2: 0x85, 3: 0x89, 4: 0x86, 5: 0x87}


def _write_and_close(stream: Stream, pending: list[bytes]) -> None:
    try:
        for data in pending:
            stream.write(data)
        stream.close()
    except (ConnectionError, OSError):
        pass


def _connack_code(pending: list[bytes], version: int | None) -> int | None:
    """The CONNACK code a malformed CONNECT was answered with, as the Auth log keeps it (3.1.1 numbering; None:
    closed without one)."""
    for data in pending:
        if len(data) >= 4 and data[0] >> 4 == wf.CONNACK:
            code = data[3]
            return code if version != wf.MQTT_5 else (1 if code == 0x84 else 5)
    return None


def protocol_label(version: int | None) -> str:
    """The protocol version as the Auth log and `clients --json` name it ("3.1.1" or "5")."""
    return MQTT_5 if version == wf.MQTT_5 else MQTT_311


def _peer_certificate(der: bytes) -> PeerCertificate | None:
    # imported on the first client certificate: cryptography is a tenth of a second of every start-up otherwise
    from mqttdesk.pki.peer import peer_certificate

    return peer_certificate(der)


class _Ending:
    """What `_connection_ended` is called with when a connection served by callbacks ends (a partial of the same
    is 0.28 KB of every connected client; this is 0.07)."""

    __slots__ = ("broker", "connection", "will", "expiry", "recheck")

    def __init__(self, broker: DeskBroker, connection: Connection, will: Will | None,
                 expiry: asyncio.TimerHandle | None, recheck: asyncio.Future[None] | None) -> None:
        self.broker, self.connection, self.will = broker, connection, will
        self.expiry, self.recheck = expiry, recheck

    def __call__(self) -> None:
        self.broker._ended_served(self)
