"""`DeskBroker`: our MQTT 3.1.1 broker, wired to the pipeline: listeners, the connection flow and sessions.

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
WebSocket), and every connection reaches `_stream_connected` as a `Stream` (`transport.py`).

This module is the connection flow (CONNECT to the end of a session, take-over, kick, shutdown); what happens to
PUBLISH, SUBSCRIBE and UNSUBSCRIBE on a live connection, and who receives a message, is `router.py`; how many
sockets may wait for their CONNECT, and for how long, is `admission.py`.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import ssl
import time
from dataclasses import replace
from typing import Any

from mqttdesk.auth.pipeline import AuthPipeline
from mqttdesk.auth.recorder import DecisionRecorder
from mqttdesk.broker import wire
from mqttdesk.broker.accept_errors import AcceptErrorFilter
from mqttdesk.broker.admission import Admission, file_descriptor_limit
from mqttdesk.broker.connect_packet import ConnectFields, ConnectRejected, read_connect
from mqttdesk.broker.connection import Connection
from mqttdesk.broker.listeners import Listeners, ListenerSpec
from mqttdesk.broker.registry import LiveSession, SessionRegistry
from mqttdesk.broker.router import MessageMonitor, Router
from mqttdesk.broker.session_state import SessionLimits, SessionState
from mqttdesk.broker.tls import HandshakeFailed
from mqttdesk.broker.transport import ListenerInfo, Stream, format_address
from mqttdesk.core.clip import SENTENCE_LENGTH, clip
from mqttdesk.core.decide import password_hash_for
from mqttdesk.core.decision import ConnectRequest, Decision, Kind, session_ended
from mqttdesk.core.limits import AdmissionLimits
from mqttdesk.core.model import CredentialKind, CredentialRef
from mqttdesk.core.reasons import Reason, ReasonCode

log = logging.getLogger(__name__)

# session ends logged as refusals: forced by the broker, or the client broke the protocol
_REFUSED_ENDS = frozenset({ReasonCode.KICKED, ReasonCode.CREDENTIAL_CHANGED, ReasonCode.TAKEN_OVER,
                           ReasonCode.PROTOCOL_ERROR})


class _ClientGate:
    """The lock serialising CONNECTs of one clientId, and how many hold or wait for it (to know when to drop it)."""

    __slots__ = ("lock", "users")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.users = 0


class DeskBroker:
    def __init__(
        self,
        *,
        pipeline: AuthPipeline,
        recorder: DecisionRecorder,
        registry: SessionRegistry,
        limits: SessionLimits | None = None,
        admission: AdmissionLimits | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.recorder = recorder
        self.registry = registry
        self.limits = limits or SessionLimits()
        self._holders = registry.holders()
        self._states: dict[str, SessionState] = {}
        self._connections: dict[str, Connection] = {}
        self._connection_tasks: set[asyncio.Task[Any]] = set()
        self._client_gates: dict[str, _ClientGate] = {}
        self.router = Router(pipeline, recorder, registry, self._connections)
        fd_limit = file_descriptor_limit()
        self.admission = Admission(admission or AdmissionLimits(), fd_limit, self._record_too_many_pending)
        self._fd_limit = fd_limit
        self._accept_errors: AcceptErrorFilter | None = None
        self._listeners = Listeners(self._stream_connected)

    # -- listeners ------------------------------------------------------------------------------

    async def start_listener(self, spec: ListenerSpec, context: ssl.SSLContext | None = None) -> None:
        """Listen as `spec` says (a TLS or WSS listener needs `context`); OSError when it cannot bind."""
        if self._accept_errors is None:
            # out of descriptors, asyncio prints a traceback per failed accept: one line instead (accept_errors.py)
            self._accept_errors = AcceptErrorFilter(asyncio.get_running_loop(), self._fd_limit)
            self._accept_errors.install()
        await self._listeners.start(spec, context)

    def bound_listeners(self) -> list[ListenerInfo]:
        """Every listener's name, kind and the address actually listened on (port 0 becomes the real port)."""
        return self._listeners.bound()

    def bound_addresses(self) -> list[tuple[str, int]]:
        """The (host, port) pairs actually listened on."""
        return [(info.host, info.port) for info in self._listeners.bound()]

    def _record_tls_failure(self, stream: Stream, why: str) -> None:
        """A failed TLS handshake is a refused CONNECT: nothing MQTT was read, no CONNACK can be sent."""
        address = stream.peer[0]
        listener = stream.listener
        where = f"listener '{listener.name}' ({format_address(listener.host, listener.port)})"
        steps = (f"TLS handshake from {format_address(*stream.peer)} on {where}", f"refused: {why}")
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
        try:
            await self._serve_connection(stream)
        except (ConnectionError, OSError, asyncio.IncompleteReadError) as exc:
            log.debug("connection ended with %r", exc)
        finally:
            if task is not None:
                self._connection_tasks.discard(task)
            if not stream.is_closing():
                stream.close()

    async def _serve_connection(self, stream: Stream) -> None:
        address = stream.peer[0]
        waiting = self.admission.admit(address)
        if waiting is None:  # over a cap: closed at once; nothing was read, so there is nobody to answer
            stream.abort()
            return
        try:
            async with waiting:  # counts against the caps until the CONNECT is read, within its deadline
                await stream.handshake()  # TLS: ours, so that a failure is in the Auth log
                fields = await read_connect(stream)
        except HandshakeFailed as exc:
            self._record_tls_failure(stream, str(exc))
            stream.abort()
            return
        except ConnectRejected as exc:
            self._reject_malformed(stream, address, exc)
            return
        except (TimeoutError, ConnectionError) as exc:
            log.info("dropping %s: no CONNECT (%s)", address, exc or type(exc).__name__)
            stream.close()
            return

        request = ConnectRequest(
            client_id="" if fields.client_id_assigned and not fields.clean_session else fields.client_id,
            username=fields.username,
            password=fields.password,
            address=address,
            clean_session=fields.clean_session,
            client_id_assigned=fields.client_id_assigned,
            will_topic=fields.will_topic,
            listener=stream.listener.name,
            transport=stream.listener.kind,
            tls_version=stream.tls.version if stream.tls else None,
            peer_certificate_subject=stream.tls.peer_subject if stream.tls else None,
        )
        # The password first, outside the clientId's lock (queued fairly per address, dropped if the client goes):
        # CONNECTs flooding one clientId must not make its owner wait for all their hashes.
        gone = stream.closed_by_peer
        checked = await self.pipeline.check_password(request, gone)
        # One CONNECT per clientId at a time, from the decision until the session is in the registry: two
        # devices racing for one id must not both get it, and a queued CONNECT must see the one before it.
        gate = self._client_gates.get(request.client_id)
        if gate is None:
            gate = self._client_gates[request.client_id] = _ClientGate()
        gate.users += 1
        try:
            async with gate.lock:
                decision = await self.pipeline.decide_connect(request, self._holders, gone=gone, checked=checked)
                decision = _with_transport(decision, request, stream.listener)
                self.recorder.record(decision)
                if not decision.allowed:
                    gone_already = decision.reason_code is ReasonCode.CLIENT_GONE
                    self._refuse(stream, None if gone_already else decision.connack or 5)
                    return
                if decision.takes_over is not None:
                    await self.end_session(request.client_id, ReasonCode.TAKEN_OVER,
                                           f"a new connection from {address} took over clientId '{request.client_id}'")
                grant = decision.grant
                assert grant is not None
                if grant.registers is not None:
                    self.recorder.record_registration(self.pipeline.admit_device(grant, address))
                self.pipeline.note_client_id(request.client_id, grant.credential)
                self.recorder.record_client_id(request.client_id, grant.credential)
                connection, present = self._open_session(stream, fields, decision, request)
        finally:
            gate.users -= 1
            if not gate.users and self._client_gates.get(request.client_id) is gate:
                del self._client_gates[request.client_id]  # nobody waits: refused CONNECTs leave nothing behind
        await self._run(connection, fields, present)

    def _reject_malformed(self, stream: Stream, address: str, rejected: ConnectRejected) -> None:
        why, read = str(rejected), rejected.what_was_read()  # what it said up to the fault names the device
        log.info("refusing %s: %s", address, clip(why, SENTENCE_LENGTH))  # a protocol name can be 64 KB
        self.recorder.record(Decision(
            kind=Kind.CONNECT, allowed=False, reason=Reason(ReasonCode.BAD_PROTOCOL, why),
            client_id=rejected.client_id or "", username=rejected.username, address=address,
            steps=((f"CONNECT read up to the fault: {read}",) if read else ()) + (why,), connack=rejected.connack,
        ))
        if rejected.connack is not None:
            self._refuse(stream, rejected.connack)
        else:
            stream.close()

    def _record_too_many_pending(self, address: str, why: str) -> None:
        """One Auth log entry per address and burst of refusals (see admission.py), not one per socket."""
        self.recorder.record(Decision(
            kind=Kind.CONNECT, allowed=False, reason=Reason(ReasonCode.TOO_MANY_PENDING, why), client_id="",
            address=address, steps=(why, "the connection was closed before anything was read from it"),
        ))

    @staticmethod
    def _refuse(stream: Stream, code: int | None) -> None:
        """Answer CONNACK `code` and close (None: just close, nobody is listening)."""
        try:
            if code is not None:
                stream.write(wire.encode_connack(False, code))
            stream.close()
        except (ConnectionError, OSError):
            pass

    def _open_session(
        self, stream: Stream, fields: ConnectFields, decision: Decision,
        request: ConnectRequest,
    ) -> tuple[Connection, bool]:
        """Create or resume the session of an *accepted* CONNECT (the only place that touches sessions)."""
        grant = decision.grant
        assert grant is not None
        client_id = request.client_id
        # a virtual (unregistered bootstrap) device never keeps a session, whatever it asked for
        clean = fields.clean_session or grant.virtual
        state = self._states.get(client_id)
        if state is not None and (clean or state.grant.credential != grant.credential):
            # the decision refuses another identity's session; should one get here, it starts afresh, never
            # with someone else's subscriptions and queued messages
            self._drop_state(state, "discarded: the client asked for a clean session" if clean else
                             "discarded: another credential connected with this clientId")
            state = None
        live = LiveSession(
            client_id=client_id,
            username=fields.username,
            method=grant.method.value,
            address=request.address,
            connected_since=time.time(),
            clean_session=clean,
            grant=grant,
            password_hash=password_hash_for(request, self.pipeline.directory),
            virtual=grant.virtual,
            listener=stream.listener.name,
            transport=stream.listener.kind,
        )
        present = state is not None
        if state is None:
            state = SessionState(client_id, clean, grant, live, self.limits)
            state.may_receive = functools.partial(self.router.may_receive, state)
            self._states[client_id] = state
        else:
            state.grant, state.live = grant, live
        live.subscriptions = state.subscriptions  # one dict: the Clients view shows the session's own
        connection = Connection(stream, state, fields.keep_alive, self.router)
        self._connections[client_id] = connection
        self.registry.add(live)  # still under the clientId's gate: the next CONNECT of this id sees it
        return connection, present

    async def _run(self, connection: Connection, fields: ConnectFields, present: bool) -> None:
        state = connection.state
        live = state.live
        registered_by = live.grant.registers
        used = CredentialRef(CredentialKind.BOOTSTRAP, registered_by) if registered_by else live.credential
        self.recorder.record_use(used, live.address)
        connection.send(wire.encode_connack(present, 0))
        for packet in state.resume():
            connection.send(packet)
        try:
            await connection.run()
        finally:
            self._finish(connection, fields)

    def _finish(self, connection: Connection, fields: ConnectFields) -> None:
        state = connection.state
        live = state.live
        state.disconnected()
        if self._connections.get(state.client_id) is connection:
            del self._connections[state.client_id]
        if connection.clean_disconnect:
            code, text = ReasonCode.CLIENT_DISCONNECT, "the client disconnected"
        else:
            code, text = connection.end_reason or (ReasonCode.CONNECTION_LOST, "the connection was lost")
            if fields.will_topic is not None and code is not ReasonCode.BROKER_STOPPED:
                self._publish_will(state, fields)
        kept = self._states.get(state.client_id) is state
        if state.clean_session and kept:
            self._drop_state(state)
            kept = False
        kind = Kind.KICK if code is ReasonCode.KICKED else Kind.DISCONNECT
        self.recorder.record(session_ended(
            kind, code, text, client_id=live.client_id, username=live.username, method=live.grant.method,
            address=live.address, forced=code in _REFUSED_ENDS,
        ))
        self.registry.remove(live.client_id, live, text)
        if kept and state.live is live:
            self.registry.park(live)

    def _drop_state(self, state: SessionState, reason: str = "the session was discarded") -> None:
        self.router.unsubscribe_all(state)
        if self._states.get(state.client_id) is state:
            del self._states[state.client_id]
            if not state.connected:
                self.registry.discard(state.client_id, reason)

    def _publish_will(self, state: SessionState, fields: ConnectFields) -> None:
        """The will is a publish on the client's behalf: checked against its permissions as they are now."""
        assert fields.will_topic is not None
        decision = self.pipeline.decide_topic(Kind.PUBLISH, state.grant, fields.will_topic)
        if not decision.allowed:
            self.recorder.record(replace(decision, address=state.live.address))
            return
        self.router.route(fields.will_topic, fields.will_message or b"", fields.will_qos, fields.will_retain)

    def route(self, topic: str, payload: bytes, qos: int, retain: bool) -> None:
        """Publish as the broker itself (tests, plugins): see `Router.route`."""
        self.router.route(topic, payload, qos, retain)

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

    async def shutdown(self) -> None:
        self._listeners.stop_accepting()
        for connection in list(self._connections.values()):
            connection.end(ReasonCode.BROKER_STOPPED, "the broker stopped")
        pending = [task for task in self._connection_tasks if not task.done()]
        if pending:
            _, still = await asyncio.wait(pending, timeout=5)
            for task in still:
                task.cancel()
            if still:
                await asyncio.gather(*still, return_exceptions=True)
        await self._listeners.close()
        self.admission.close()
        if self._accept_errors is not None:
            self._accept_errors.uninstall()
            self._accept_errors = None


def _with_transport(decision: Decision, request: ConnectRequest, listener: ListenerInfo) -> Decision:
    """The decision with how the CONNECT came in as its first step (e.g. "over TLS 1.3 on listener 'tls' (...)")."""
    step = request.transport_step(format_address(listener.host, listener.port))
    return decision if step is None else replace(decision, steps=(step, *decision.steps))
