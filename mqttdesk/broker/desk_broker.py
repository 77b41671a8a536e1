"""`DeskBroker`: amqtt 0.12.1's `Broker` with its connection flow corrected and wired to our auth pipeline.

What it changes in amqtt, and why (each override names the amqtt behaviour it corrects):

- CONNECT is decided by `AuthPipeline` *before* any session is looked at. amqtt deletes the old session of a
  clean-session clientId and takes over live sessions before authenticating, so a client with a wrong password
  could wipe another client's subscriptions or throw it off.
- A refused CONNECT is answered with the CONNACK code of our decision (2, 4 or 5); amqtt always says 5.
- A clientId held by a *different* credential is refused with 2 (`client-id-in-use`); the same credential takes
  its own session over, as MQTT 3.1.1 section 3.1.4 requires.
- SUBSCRIBE, PUBLISH and delivery checks go to the pipeline (amqtt's plugin API has no reasons).
- Sessions can be ended on demand (`end_session`: kick, credential change), which amqtt cannot do.
- Every connection task is tracked, so `shutdown()` returns only when all of them have finished.

Live objects (pipeline, recorder, registry) are passed to the constructor: amqtt builds plugin configs from dicts
with strict dataclasses, which cannot carry them, and a subclass needs no plugins at all (`plugins: {}`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterator, Mapping
from dataclasses import replace
from typing import Any

from amqtt.adapters import ReaderAdapter, WriterAdapter
from amqtt.broker import Broker
from amqtt.contexts import Action, ListenerConfig
from amqtt.errors import AMQTTError, BrokerError, MQTTError, NoDataError
from amqtt.mqtt.connack import ConnackPacket
from amqtt.mqtt.protocol.broker_handler import BrokerProtocolHandler
from amqtt.session import ApplicationMessage, OutgoingApplicationMessage, Session

from mqttdesk.auth.pipeline import AuthPipeline
from mqttdesk.auth.recorder import DecisionRecorder
from mqttdesk.broker.connect_packet import ConnectFields, ConnectRejected, read_connect
from mqttdesk.broker.registry import LiveSession, SessionRegistry
from mqttdesk.core.decide import password_hash_for
from mqttdesk.core.decision import ConnectRequest, Decision, Kind, SessionHolder, session_ended
from mqttdesk.core.reasons import Reason, ReasonCode, connack_code

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 10.0  # a socket that sends no CONNECT is dropped (amqtt waits forever)
_LIVE = "mqttdesk.live"
_ACTION_KIND = {Action.SUBSCRIBE: Kind.SUBSCRIBE, Action.PUBLISH: Kind.PUBLISH, Action.RECEIVE: Kind.RECEIVE}


class _Holders(Mapping[str, SessionHolder]):
    """The registry seen as clientId → holder, without copying it for every CONNECT."""

    def __init__(self, registry: SessionRegistry) -> None:
        self._registry = registry

    def __getitem__(self, client_id: str) -> SessionHolder:
        live = self._registry.get(client_id)
        if live is None:
            raise KeyError(client_id)
        return SessionHolder(live.client_id, live.username, live.credential, live.address, live.connected_since)

    def __iter__(self) -> Iterator[str]:
        return iter([s.client_id for s in self._registry])

    def __len__(self) -> int:
        return len(self._registry)


class DeskProtocolHandler(BrokerProtocolHandler):
    """Counts outgoing messages for the Clients view."""

    live: LiveSession | None = None
    registry: SessionRegistry | None = None

    async def mqtt_publish(
        self, topic: str, data: bytes | bytearray, qos: int | None, retain: bool, ack_timeout: int | None = None
    ) -> OutgoingApplicationMessage:
        if self.live is not None and self.registry is not None:
            self.live.messages_out += 1
            self.registry.touch(self.live)
        return await super().mqtt_publish(topic, data, qos, retain, ack_timeout)


class DeskBroker(Broker):
    def __init__(
        self,
        config: dict[str, Any],
        *,
        pipeline: AuthPipeline,
        recorder: DecisionRecorder,
        registry: SessionRegistry,
    ) -> None:
        super().__init__({**config, "plugins": {}})
        self.pipeline = pipeline
        self.recorder = recorder
        self.registry = registry
        self._holders = _Holders(registry)
        self._connection_tasks: set[asyncio.Task[Any]] = set()
        self._client_locks: dict[str, asyncio.Lock] = {}
        self._end_reasons: dict[int, tuple[Kind, ReasonCode, str]] = {}
        self._ended: dict[int, asyncio.Event] = {}

    # -- listeners ------------------------------------------------------------------------------

    async def _create_server_instance(self, listener_name: str, listener_type: Any, address: str | None,
                                      port: int, ssl_context: Any) -> Any:
        # amqtt passes IPv6 literals on with their brackets ("[::1]"), which the socket layer does not accept
        if address is not None:
            address = address.strip("[]")
        return await super()._create_server_instance(listener_name, listener_type, address, port, ssl_context)

    def bound_addresses(self) -> list[tuple[str, int]]:
        """The (host, port) pairs actually listened on (port 0 in the config becomes the real port here)."""
        addresses: list[tuple[str, int]] = []
        for server in self._servers.values():
            for sock in getattr(server.instance, "sockets", None) or ():
                host, port = sock.getsockname()[:2]
                addresses.append((host, port))
        return addresses

    # -- the connection flow ------------------------------------------------------------------------

    async def _client_connected(self, listener_name: str, reader: ReaderAdapter, writer: WriterAdapter) -> None:
        server = self._servers.get(listener_name)
        if server is None:
            raise BrokerError(f"Invalid listener name '{listener_name}'")
        task = asyncio.current_task()
        if task is not None:
            self._connection_tasks.add(task)
        await server.acquire_connection()
        try:
            await self._serve_connection(listener_name, reader, writer)
        except (AMQTTError, MQTTError, NoDataError, ConnectionError, asyncio.IncompleteReadError) as exc:
            log.debug("connection ended with %r", exc)
        finally:
            server.release_connection()
            if task is not None:
                self._connection_tasks.discard(task)

    async def _serve_connection(self, listener_name: str, reader: ReaderAdapter, writer: WriterAdapter) -> None:
        peer = writer.get_peer_info()
        if peer is None:
            await writer.close()
            return
        address, port = peer
        try:
            fields = await asyncio.wait_for(read_connect(reader), CONNECT_TIMEOUT)
        except ConnectRejected as exc:
            await self._reject_malformed(writer, address, str(exc), exc.connack)
            return
        except (TimeoutError, NoDataError, MQTTError, AMQTTError, UnicodeDecodeError) as exc:
            log.info("dropping %s:%s: no valid CONNECT (%s)", address, port, exc or type(exc).__name__)
            await writer.close()
            return

        request = ConnectRequest(
            client_id="" if fields.client_id_assigned and not fields.clean_session else fields.client_id,
            username=fields.username,
            password=fields.password,
            address=address,
            clean_session=fields.clean_session,
            client_id_assigned=fields.client_id_assigned,
            will_topic=fields.will_topic,
        )
        # one CONNECT per clientId at a time: two devices racing for the same id must not both get it
        lock = self._client_locks.setdefault(request.client_id, asyncio.Lock())
        async with lock:
            decision = await self.pipeline.decide_connect(request, self._holders)
            self.recorder.record(decision)
            if not decision.allowed:
                await self._refuse(writer, decision)
                return
            if decision.takes_over is not None:
                await self.end_session(
                    decision.takes_over.client_id, Kind.DISCONNECT, ReasonCode.TAKEN_OVER,
                    f"a new connection from {address} took over clientId '{request.client_id}'",
                )
            session, handler, live = self._open_session(fields, decision, request, address, port)
        if not self._client_locks.get(request.client_id, lock).locked():
            self._client_locks.pop(request.client_id, None)
        await self._run_session(reader, writer, session, handler, live, listener_name)

    async def _reject_malformed(self, writer: WriterAdapter, address: str, why: str, connack: int | None) -> None:
        log.info("refusing %s: %s", address, why)
        if connack is not None:
            self.recorder.record(Decision(
                kind=Kind.CONNECT, allowed=False, reason=Reason(ReasonCode.BAD_PROTOCOL, why), client_id="",
                address=address, steps=(why,), connack=connack,
            ))
            await self._send_connack(writer, connack)
        await writer.close()

    async def _refuse(self, writer: WriterAdapter, decision: Decision) -> None:
        await self._send_connack(writer, decision.connack or connack_code(decision.reason.code, False))
        await writer.close()

    @staticmethod
    async def _send_connack(writer: WriterAdapter, code: int) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            await ConnackPacket.build(0, code).to_stream(writer)

    def _open_session(
        self, fields: ConnectFields, decision: Decision, request: ConnectRequest, address: str, port: int
    ) -> tuple[Session, DeskProtocolHandler, LiveSession]:
        """Create or resume the amqtt session for an *accepted* CONNECT (the only place that touches sessions)."""
        grant = decision.grant
        assert grant is not None
        client_id = request.client_id
        existing = self._sessions.get(client_id, (None, None))[0]
        if fields.clean_session or existing is None:
            if existing is not None:
                self._forget_session(client_id)
            session = Session()
            session.client_id = client_id
            session.parent = 0
        else:
            session = existing
            session.parent = 1
        session.clean_session = fields.clean_session
        session.will_flag = fields.will_topic is not None
        session.will_topic = fields.will_topic
        session.will_message = fields.will_message
        session.will_qos = fields.will_qos
        session.will_retain = fields.will_retain
        session.keep_alive = fields.keep_alive
        session.username = fields.username
        session.password = None  # amqtt keeps it on the session; we never do
        session.remote_address = address
        session.remote_port = port
        live = LiveSession(
            client_id=client_id,
            username=fields.username,
            method=grant.method.value,
            address=address,
            connected_since=time.time(),
            clean_session=fields.clean_session,
            grant=grant,
            password_hash=password_hash_for(request, self.pipeline.directory),
        )
        if not fields.clean_session and existing is not None:
            previous: LiveSession | None = existing.attributes.get(_LIVE)
            if previous is not None:
                live.subscriptions = dict(previous.subscriptions)
        session.attributes[_LIVE] = live
        handler = DeskProtocolHandler(self.plugins_manager, loop=self._loop)
        handler.live = live
        handler.registry = self.registry
        return session, handler, live

    def _forget_session(self, client_id: str) -> None:
        session = self._sessions.pop(client_id, (None, None))[0]
        if session is None:
            return
        for topic_filter in list(self._subscriptions):
            self._del_subscription(topic_filter, session)
            if not self._subscriptions[topic_filter]:
                del self._subscriptions[topic_filter]
        session.clear_queues()

    async def _run_session(
        self,
        reader: ReaderAdapter,
        writer: WriterAdapter,
        session: Session,
        handler: DeskProtocolHandler,
        live: LiveSession,
        listener_name: str,
    ) -> None:
        self.registry.add(live)
        self.recorder.record_use(live.credential)
        ended = self._ended.setdefault(id(live), asyncio.Event())
        end: tuple[Kind, ReasonCode, str] | None = None
        try:
            server = self._servers[listener_name]
            await self._handle_client_session(reader, writer, session, handler, server, listener_name)
        finally:
            end = self._end_reasons.pop(id(live), None)
            if end is None:
                end = (Kind.DISCONNECT, ReasonCode.CONNECTION_LOST, "the connection was lost")
                if getattr(handler, "clean_disconnect", False):
                    end = (Kind.DISCONNECT, ReasonCode.CLIENT_DISCONNECT, "the client disconnected")
            kind, code, text = end
            forced = code in (ReasonCode.KICKED, ReasonCode.CREDENTIAL_CHANGED, ReasonCode.TAKEN_OVER)
            self.recorder.record(session_ended(
                kind, code, text, client_id=live.client_id, username=live.username,
                method=live.grant.method, address=live.address, forced=forced,
            ))
            self.registry.remove(live.client_id, live, text)
            ended.set()
            self._ended.pop(id(live), None)

    async def _authenticate(self, session: Session, _: ListenerConfig) -> bool:
        # the decision was made in _serve_connection, before the session existed
        return True

    async def _handle_disconnect(self, client_session: Session, handler: BrokerProtocolHandler,
                                 disconnect_waiter: asyncio.Future[Any]) -> None:
        if disconnect_waiter.result() is not None:
            handler.clean_disconnect = True  # type: ignore[attr-defined]
        await super()._handle_disconnect(client_session, handler, disconnect_waiter)

    # -- topic checks --------------------------------------------------------------------------

    async def _topic_filtering(self, session: Session, topic: str, action: Action) -> bool:
        live: LiveSession | None = session.attributes.get(_LIVE)
        if live is None:
            return False
        kind = _ACTION_KIND[action]
        decision = self.pipeline.decide_topic(kind, live.grant, topic)
        if kind is not Kind.RECEIVE:
            self._record_topic_decision(live, decision)
        return decision.allowed

    def _record_topic_decision(self, live: LiveSession, decision: Decision) -> None:
        """Each distinct topic decision is logged once per session; repeats only count (see README, Auth log)."""
        key = (decision.kind, decision.topic, decision.allowed)
        if key in live.logged:
            return
        live.logged.add(key)
        if decision.address != live.address:
            decision = replace(decision, address=live.address)
        self.recorder.record(decision)

    async def add_subscription(self, subscription: tuple[str, int], session: Session) -> int:
        code = await super().add_subscription(subscription, session)
        live: LiveSession | None = session.attributes.get(_LIVE)
        if live is not None and code != 0x80:
            live.subscriptions[subscription[0]] = code
            self.registry.touch(live)
        return code

    async def _handle_unsubscription(self, client_session: Session, handler: BrokerProtocolHandler,
                                     unsubscribe_waiter: asyncio.Future[Any]) -> None:
        await super()._handle_unsubscription(client_session, handler, unsubscribe_waiter)
        live: LiveSession | None = client_session.attributes.get(_LIVE)
        if live is not None:
            for topic_filter in unsubscribe_waiter.result().topics:
                live.subscriptions.pop(topic_filter, None)
            self.registry.touch(live)

    async def _handle_message_delivery(self, client_session: Session, handler: BrokerProtocolHandler,
                                       wait_deliver: asyncio.Future[Any]) -> bool:
        message: ApplicationMessage | None = wait_deliver.result()
        live: LiveSession | None = client_session.attributes.get(_LIVE)
        if message is not None and live is not None:
            live.messages_in += 1
            self.registry.touch(live)
        return await super()._handle_message_delivery(client_session, handler, wait_deliver)

    # -- ending sessions on demand ------------------------------------------------------------

    async def end_session(self, client_id: str, kind: Kind, code: ReasonCode, text: str, *, wait: bool = True) -> bool:
        """Disconnect a live client now (its will is published: it did not say goodbye). False if not connected.

        With `wait`, returns once the session has been fully taken down (will sent, registry updated).
        """
        session, handler = self._sessions.get(client_id, (None, None))
        live: LiveSession | None = session.attributes.get(_LIVE) if session is not None else None
        if session is None or handler is None or live is None or session.transitions.state != "connected":
            return False
        self._end_reasons.setdefault(id(live), (kind, code, text))
        ended = self._ended.get(id(live))
        await handler.handle_connection_closed()
        if wait and ended is not None:
            try:
                await asyncio.wait_for(ended.wait(), timeout=5)
            except TimeoutError:
                log.warning("session %s did not end within 5 s", client_id)
        return True

    async def shutdown(self) -> None:
        for live in self.registry:
            self._end_reasons[id(live)] = (Kind.DISCONNECT, ReasonCode.BROKER_STOPPED, "the broker stopped")
        await super().shutdown()
        pending = [task for task in self._connection_tasks if not task.done()]
        if pending:
            _, still = await asyncio.wait(pending, timeout=5)
            for task in still:
                task.cancel()
            if still:
                await asyncio.gather(*still, return_exceptions=True)

