"""`BrokerService`: one object that owns the running broker and everything around it.

It is what the GUI, `mqttdesk serve` and the control socket talk to: start/stop with a status anyone can watch,
kick, the live session registry, the login guard (bans: `add_ban`, `remove_ban`, `bans`; `guard.attack()`), and
enforcement of store changes on live sessions (a suspended user, or a banned address, is disconnected at once,
whichever process made the change). It needs a running asyncio loop (qasync or plain asyncio).

It also keeps the devices recognised by what they publish (`devices`, see `broker/devices.py`: Tasmota's LWT and INFO
messages, ESPHome's status, discovery configs), sends them commands as the broker (`device_command`), and advertises
the broker by mDNS/DNS-SD while it listens beyond loopback (`advertising`, see `broker/network.py`).
"""

from __future__ import annotations

import asyncio
import errno
import logging
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import TYPE_CHECKING

from mqttdesk.auth.login_guard import LoginGuard
from mqttdesk.auth.pipeline import AuthPipeline
from mqttdesk.auth.recorder import DecisionRecorder
from mqttdesk.broker.admission import raise_file_descriptor_limit
from mqttdesk.broker.desk_broker import DeskBroker
from mqttdesk.broker.devices import DeviceWatch, command_topic
from mqttdesk.broker.listeners import ListenerSpec
from mqttdesk.broker.network import Advertising
from mqttdesk.broker.persistence import BrokerPersistence, Restored
from mqttdesk.broker.registry import LiveSession, SessionRegistry
from mqttdesk.broker.router import MessageMonitor
from mqttdesk.broker.tls import ContextHolder, ListenerError, TlsFiles, builtin_server_context, server_context
from mqttdesk.broker.transport import ListenerInfo, format_address
from mqttdesk.core.addresses import address_source
from mqttdesk.core.bans import Ban, BanKind, ban_value
from mqttdesk.core.client_ids import describe_owner
from mqttdesk.core.decide import revalidate
from mqttdesk.core.decision import Decision, Grant, Kind
from mqttdesk.core.errors import MqttdeskError, NotFoundError
from mqttdesk.core.limits import BrokerLimits, SessionLimits
from mqttdesk.core.model import CredentialKind, Directory
from mqttdesk.core.reasons import ReasonCode
from mqttdesk.core.sources import source_of, source_of_change
from mqttdesk.store.changes import Change, ChangeKind
from mqttdesk.store.db import Store
from mqttdesk.store.session_store import SessionFile
from mqttdesk.store.settings_repo import ListenerSettings

if TYPE_CHECKING:
    from mqttdesk.auth.http_service import AuthHttpService

log = logging.getLogger(__name__)

POLL_INTERVAL = 0.25  # how often changes made by other processes (the CLI) are picked up
PRUNE_INTERVAL = 600.0
BUSY_TIMEOUT = 0.25
TEST_PUBLISHER = "mqttdesk (test publish)"  # the address shown for messages published from the topic monitor


class BrokerState(StrEnum):
    STOPPED = "stopped"
    STARTING = "starting"
    LISTENING = "listening"
    STOPPING = "stopping"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class BrokerStatus:
    state: BrokerState
    listeners: tuple[ListenerInfo, ...] = ()  # every bound address, with its listener's name and kind
    error: str | None = None
    warnings: tuple[str, ...] = ()  # listeners that are switched on but did not start, and why

    @property
    def addresses(self) -> tuple[tuple[str, int], ...]:
        return tuple((info.host, info.port) for info in self.listeners)

    def describe(self) -> str:
        if self.state is BrokerState.LISTENING:
            return "; ".join(("listening on " + ", ".join(describe_listener(i) for i in self.listeners),
                              *self.warnings))
        if self.state is BrokerState.ERROR:
            return f"error: {self.error}"
        return self.state.value


def describe_listener(info: ListenerInfo) -> str:
    """ "127.0.0.1:1883", "127.0.0.1:8883 (tls)", "127.0.0.1:9001 (ws)", "127.0.0.1:9443 (wss)"."""
    address = format_address(info.host, info.port)
    return address if info.kind == "tcp" else f"{address} ({info.kind})"


@dataclass(frozen=True, slots=True)
class ListenerOverrides:
    """Changes to the stored listener settings for one run (`serve --tls-port P --ws-port P --no-tcp`)."""

    host: str | None = None
    port: int | None = None  # TCP
    tls_port: int | None = None  # given: the TLS listener runs, on this port
    ws_port: int | None = None
    wss_port: int | None = None
    no_tcp: bool = False

    def apply(self, stored: ListenerSettings) -> ListenerSettings:
        settings = replace(stored, host=stored.host if self.host is None else self.host,
                           tcp_port=stored.tcp_port if self.port is None else self.port)
        if self.no_tcp:
            settings = replace(settings, tcp=False)
        if self.tls_port is not None:
            settings = replace(settings, tls=True, tls_port=self.tls_port)
        if self.ws_port is not None:
            settings = replace(settings, ws=True, ws_port=self.ws_port)
        if self.wss_port is not None:
            settings = replace(settings, wss=True, wss_port=self.wss_port)
        return settings


def listener_specs(settings: ListenerSettings) -> list[ListenerSpec]:
    """The listeners switched on, in the order they are started and shown."""
    chosen = (("tcp", settings.tcp, settings.tcp_port), ("tls", settings.tls, settings.tls_port),
              ("ws", settings.ws, settings.ws_port), ("wss", settings.wss, settings.wss_port))
    return [ListenerSpec(kind, kind, settings.host, port) for kind, on, port in chosen if on]


StatusListener = Callable[[BrokerStatus], None]


def explain_start_error(exc: BaseException, host: str, port: int) -> str:
    """Turn a failed bind into a sentence a person can act on."""
    cause: BaseException | None = exc
    while cause is not None and not isinstance(cause, OSError):
        cause = cause.__cause__ or cause.__context__
    if isinstance(cause, OSError):
        if cause.errno == errno.EADDRINUSE:
            return f"port {port} on {host} is already in use (is another broker running?)"
        if cause.errno == errno.EACCES:
            return f"not allowed to listen on port {port} (ports below 1024 need privileges)"
        if cause.errno in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT):
            return f"{host} is not an address of this machine"
        return f"cannot listen on {format_address(host, port)}: {cause.strerror or cause}"
    return f"cannot listen on {format_address(host, port)}: {exc}"


class BrokerService:
    def __init__(self, store: Store, *, poll_interval: float = POLL_INTERVAL,
                 limits: SessionLimits | None = None, broker_limits: BrokerLimits | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        """`limits` and `broker_limits` override the stored limits for this service's lifetime (tests, benchmarks);
        `clock` (Unix time) is what persistence measures the time spent down with (tests move it forward)."""
        self.store = store
        self._clock = clock
        self._persistence: BrokerPersistence | None = None
        self.restored = Restored()  # what the last start read back of the sessions and retained messages
        # the instance writes on its event loop (the window's): wait a moment for the CLI, never five seconds;
        # the recorder keeps what it could not write and tries again
        store.set_busy_timeout(BUSY_TIMEOUT)
        self._limits_override = limits
        self._broker_limits_override = broker_limits
        self.registry = SessionRegistry()
        self.pipeline = AuthPipeline(store)
        self.recorder = DecisionRecorder(store)
        self.guard = LoginGuard(store)
        self._poll_interval = poll_interval
        self._broker: DeskBroker | None = None
        self._status = BrokerStatus(BrokerState.STOPPED)
        self._status_listeners: list[StatusListener] = []
        self._watch_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[object]] = set()
        self._monitors: list[MessageMonitor] = []
        self._lifecycle = asyncio.Lock()
        self._tls: ContextHolder | None = None  # set while a TLS listener runs on the built-in CA's certificates
        self._refreshing_tls = False
        self.devices = DeviceWatch()  # devices recognised by what they publish
        self.advertising = Advertising()  # mDNS/DNS-SD, while listening beyond loopback
        self._tls_files: tuple[str | None, str | None, str | None] = (None, None, None)  # those the broker runs on
        self.auth_service: AuthHttpService | None = None  # answering another broker's questions, when running
        self.pipeline.on_directory_changed(self._enforce)
        store.subscribe(self._store_changed)

    # -- status ---------------------------------------------------------------------------------

    @property
    def status(self) -> BrokerStatus:
        return self._status

    def on_status(self, listener: StatusListener) -> None:
        self._status_listeners.append(listener)

    def remove_status_listener(self, listener: StatusListener) -> None:
        if listener in self._status_listeners:
            self._status_listeners.remove(listener)

    def _set_status(self, status: BrokerStatus) -> None:
        self._status = status
        for listener in list(self._status_listeners):
            try:
                listener(status)
            except Exception:
                log.exception("status listener failed")

    # -- lifecycle ------------------------------------------------------------------------------

    async def open(self) -> None:
        """Start watching the store for changes made elsewhere (needed even while the broker is stopped)."""
        if self._watch_task is None:
            self._watch_task = asyncio.create_task(self._watch(), name="mqttdesk-store-watch")

    async def close(self) -> None:
        await self.stop_auth_service()
        await self.stop()
        if self._watch_task is not None:
            self._watch_task.cancel()
            await asyncio.gather(self._watch_task, return_exceptions=True)
            self._watch_task = None
        self.recorder.flush()
        self.guard.close()
        self.pipeline.close()
        self.store.unsubscribe(self._store_changed)

    async def start_auth_service(self, host: str | None = None, port: int | None = None) -> tuple[str, int]:
        """Answer other brokers' auth questions over HTTP beside the broker, with this pipeline and Auth log
        (auth/http_service.py); the stored address unless given. Returns where it listens."""
        await self.stop_auth_service()
        stored_host, stored_port = self.store.settings.auth_service_address()
        settings = self.store.settings
        # imported here: aiohttp costs ~0.3 s of start-up, and most instances never answer another broker
        from mqttdesk.auth.http_service import AuthHttpService

        service = AuthHttpService(self.pipeline, self.recorder, settings.auth_service_secret(),
                                  anonymous_on=lambda: settings.anonymous().mode == "on")
        address = await service.start(stored_host if host is None else host, stored_port if port is None else port)
        self.auth_service = service
        return address

    async def stop_auth_service(self) -> None:
        if self.auth_service is not None:
            service, self.auth_service = self.auth_service, None
            await service.stop()

    async def start(self, host: str | None = None, port: int | None = None,
                    overrides: ListenerOverrides | None = None) -> BrokerStatus:
        """Start the listeners (the stored settings, changed by `host`/`port`/`overrides` for this run).

        A listener that cannot be set up (TLS without its files) is left out and named in the status's warnings;
        one that cannot bind stops the start: the status is an error that says which and why.
        """
        async with self._lifecycle:
            if self._broker is not None:
                return self._status
            self._tls = None
            overrides = overrides or ListenerOverrides()
            if host is not None or port is not None:
                overrides = replace(overrides, host=overrides.host if host is None else host,
                                    port=overrides.port if port is None else port)
            settings = overrides.apply(self.store.settings.listeners())
            self._set_status(BrokerStatus(BrokerState.STARTING))
            self.pipeline.set_listen_host(settings.host)
            raise_file_descriptor_limit()  # every client holds a descriptor; the broker's caps follow the limit
            broker = DeskBroker(
                pipeline=self.pipeline,
                recorder=self.recorder,
                registry=self.registry,
                limits=self._limits_override or self.store.settings.session_limits(),
                admission=self.store.settings.admission_limits(),
                guard=self.guard,
                broker_limits=self._broker_limits_override or self.store.settings.broker_limits(),
            )
            broker.monitors.extend(self._monitors)
            broker.router.device_observer = self.devices.observe
            warnings: list[str] = []
            self._restore(broker, warnings)
            context: ssl.SSLContext | ContextHolder | None = None
            specs = listener_specs(settings)
            for spec in specs:
                try:
                    context = await self._start_listener(broker, spec, settings, context, warnings)
                except OSError as exc:
                    await broker.shutdown()
                    await self._close_persistence()
                    message = explain_start_error(exc, spec.host, spec.port)
                    log.info("broker did not start: %s", message)
                    self._set_status(BrokerStatus(BrokerState.ERROR, error=message))
                    return self._status
            bound = tuple(broker.bound_listeners())
            if not bound:
                await broker.shutdown()
                await self._close_persistence()
                message = "; ".join(warnings) if warnings else "no listener is switched on (mqttdesk config set " \
                    "listen.tcp on)"
                self._set_status(BrokerStatus(BrokerState.ERROR, error=message))
                return self._status
            self._broker = broker
            if self._persistence is not None:
                self._persistence.start()
            self._tls_files = (settings.cert_file, settings.key_file, settings.client_ca_file)
            self._set_status(BrokerStatus(BrokerState.LISTENING, bound, warnings=tuple(warnings)))
            self.advertising.begin(bound, settings.host, settings.mdns)
            return self._status

    def _restore(self, broker: DeskBroker, warnings: list[str]) -> None:
        """Persistence on (the default): give the new broker what the last run kept. Off: delete what was kept,
        so that turning it on again later does not bring back sessions and retained messages from long ago.

        A file that cannot be read is put aside (`sessions.sqlite.damaged`) and the broker starts without it; one
        that cannot be written at all (a read-only data directory) leaves the broker running without persistence,
        with a warning in its status. Neither keeps the broker from starting.
        """
        data_dir = self.store.path.parent
        self.restored = Restored()
        if not self.store.settings.persistence():
            if SessionFile.remove(data_dir):
                log.info("persistence is off: deleted the sessions and retained messages kept before")
            return
        try:
            self._persistence = BrokerPersistence.open(data_dir, clock=self._clock)
            self.restored = self._persistence.restore(broker, self.pipeline.directory)
        except Exception as exc:
            if self._persistence is not None:
                self._persistence.file.close()
                self._persistence = None
            try:
                aside = SessionFile.set_aside(data_dir)
                self._persistence = BrokerPersistence.open(data_dir, clock=self._clock)
                self._persistence.restore(broker, self.pipeline.directory)
            except Exception as again:
                self._persistence = None
                warnings.append(f"sessions and retained messages will not survive a restart: {again}")
                log.warning("persistence is off for this run: %s (reading: %s)", again, exc)
                return
            warnings.append(f"the kept sessions and retained messages could not be read ({exc}); the file was put "
                            f"aside as {aside}")
            log.warning("%s", warnings[-1])
        if self.restored.sessions or self.restored.retained:
            log.info("%s", self.restored.describe())

    async def _close_persistence(self) -> None:
        persistence, self._persistence = self._persistence, None
        if persistence is not None:
            try:
                await persistence.close()
            except Exception:
                log.exception("writing the broker's sessions at stop failed")

    async def flush_persistence(self) -> None:
        """Write what changed now rather than at the next batch (tests)."""
        if self._persistence is not None:
            await self._persistence.flush()

    async def _start_listener(self, broker: DeskBroker, spec: ListenerSpec, settings: ListenerSettings,
                              context: ssl.SSLContext | ContextHolder | None, warnings: list[str]
                              ) -> ssl.SSLContext | ContextHolder | None:
        """Start one listener; a TLS one with `context`, made on first need (a TLS set-up that fails is a warning and
        that listener stays off). Returns the context for the next; an OSError (the port) is the caller's."""
        if spec.kind in ("tls", "wss") and context is None:
            try:
                context = self._tls_context(settings, warnings)
            except ListenerError as exc:
                warnings.append(f"the {spec.kind.upper()} listener did not start: {exc}")
                return None
        await broker.start_listener(spec, context if spec.kind in ("tls", "wss") else None)
        return context

    async def apply_listener_settings(self) -> BrokerStatus:
        """Bring a running broker's listeners in line with the stored settings, restarting only those that changed:
        the clients of the others stay connected. A listener that cannot start now is named in the warnings."""
        async with self._lifecycle:
            broker = self._broker
            if broker is None:
                return self._status
            settings = self.store.settings.listeners()
            wanted = {spec.name: spec for spec in listener_specs(settings)}
            running = {spec.name: spec for spec in broker.listener_specs()}
            tls_changed = self._tls_files != (settings.cert_file, settings.key_file, settings.client_ca_file)
            changed = {name for name, spec in running.items()
                       if wanted.get(name) != spec or (tls_changed and spec.kind in ("tls", "wss"))}
            for name in changed:
                await broker.stop_listener(name, f"the {name} listener was restarted with new settings")
            warnings: list[str] = []
            context: ssl.SSLContext | ContextHolder | None = self._tls if not tls_changed else None
            for name, spec in wanted.items():
                if name in running and name not in changed:
                    continue
                try:
                    context = await self._start_listener(broker, spec, settings, context, warnings)
                except OSError as exc:
                    warnings.append(f"the {name} listener did not start: "
                                    f"{explain_start_error(exc, spec.host, spec.port)}")
            self._tls_files = (settings.cert_file, settings.key_file, settings.client_ca_file)
            self.pipeline.set_listen_host(settings.host)
            self._set_status(BrokerStatus(BrokerState.LISTENING, tuple(broker.bound_listeners()),
                                          warnings=tuple(warnings)))
            return self._status

    def _tls_context(self, settings: ListenerSettings, warnings: list[str]) -> ssl.SSLContext | ContextHolder:
        """The files of tls.cert_file/tls.key_file when they are set; else the built-in CA's server certificate
        (issued or reissued first when needed), in a holder whose context is replaced when certificates change."""
        if settings.cert_file or settings.key_file or not self.store.pki.exists():
            try:
                return server_context(TlsFiles(settings.cert_file, settings.key_file, settings.client_ca_file))
            except ListenerError as exc:
                if settings.cert_file or settings.key_file:
                    raise
                raise ListenerError(f"{exc}, or create mqttdesk's own CA (mqttdesk ca init)") from None
        self._tls = ContextHolder(self._builtin_context(warnings))
        return self._tls

    def _builtin_context(self, warnings: list[str]) -> ssl.SSLContext:
        pki = self.store.pki
        try:
            done = pki.ensure_server_certificate()
            if done:
                log.info("issued the TLS server certificate: %s", done)
        except MqttdeskError as exc:  # an encrypted CA key: keep serving the certificate there is, if any
            reason = pki.server_renewal_reason()
            if pki.server_certificate() is None:
                raise ListenerError(f"the server certificate cannot be issued here: {exc}; use mqttdesk "
                                    "server-cert reissue") from None
            warnings.append(f"the server certificate should be reissued ({reason}) but cannot be here: {exc}; use "
                            "mqttdesk server-cert reissue")
        try:
            material = pki.tls_material()
        except NotFoundError as exc:
            raise ListenerError(str(exc)) from None
        warnings.extend(material.notes)
        return builtin_server_context(material)

    def _store_changed(self, changes: tuple[Change, ...]) -> None:
        if self._tls is not None and any(c.kind is ChangeKind.CERTIFICATE for c in changes):
            self.refresh_tls()
        for change in changes:
            if change.kind is ChangeKind.BAN:
                self._end_banned(change.key)

    def refresh_tls(self) -> None:
        """Build a new TLS context from the built-in CA's current files (after a revocation, a reissued server
        certificate, a trusted CA added or removed): new handshakes use it, connected clients stay connected."""
        holder = self._tls
        if holder is None or self._refreshing_tls:
            return  # reissuing below announces a change too: the outer call builds the context once
        self._refreshing_tls = True
        try:
            notes: list[str] = []
            holder.current = self._builtin_context(notes)
            for note in notes:
                log.warning("TLS: %s", note)
        except (ListenerError, MqttdeskError) as exc:
            log.warning("TLS certificates changed but cannot be used; the listener keeps the previous ones: %s", exc)
        finally:
            self._refreshing_tls = False

    async def stop(self) -> None:
        """Disconnect every client and free the port."""
        async with self._lifecycle:
            broker, self._broker = self._broker, None
            self._tls = None
            if broker is None:
                return
            self._set_status(BrokerStatus(BrokerState.STOPPING))
            try:
                await self.advertising.end()
                await broker.shutdown()
            finally:
                await self._close_persistence()  # after the shutdown: every session is parked, each one is written
                self.registry.discard_all_offline("the broker stopped")
                if self._tasks:
                    await asyncio.gather(*self._tasks, return_exceptions=True)
                self.registry.flush_updates()
                self.recorder.flush()
                self._set_status(BrokerStatus(BrokerState.STOPPED))

    # -- devices recognised by their messages ---------------------------------------------------

    def device_command(self, topic: str, command: str, payload: str = "") -> str:
        """Publish `cmnd/<topic>/<command>` as the broker itself (no permissions apply); the topic it went to.

        The device answers on `stat/<topic>/RESULT`, which the device book keeps as its `last_answer`.
        """
        broker = self._broker
        if broker is None:
            raise MqttdeskError("the broker is not running")
        target = command_topic(topic, command)
        broker.route(target, payload.encode(), 0, False)
        return target

    # -- actions on live sessions ---------------------------------------------------------------

    async def kick(self, client_id: str, *, by: str = "admin") -> bool:
        """Forced disconnect of one client. False when no such client is connected."""
        broker = self._broker
        if broker is None:
            return False
        return await broker.end_session(client_id, ReasonCode.KICKED, f"kicked by {by}")

    def _enforce(self, directory: Directory, changes: tuple[Change, ...]) -> None:
        """After a store change: end the sessions whose credential no longer admits them, right away."""
        broker = self._broker
        if broker is None:
            return
        changed = {(source.kind, c.key) for c in changes if (source := source_of_change(c.kind.value)) is not None}
        settings_changed = any(c.kind is ChangeKind.SETTINGS for c in changes)
        certificates_changed = any(c.kind is ChangeKind.CERTIFICATE for c in changes)  # e.g. one was revoked

        def concerned(grant: Grant) -> bool:
            ref = grant.credential
            source = source_of(ref.kind)
            if source.change_kind is None:  # anonymous access, the external service: their changes are settings
                return settings_changed
            return (ref.kind, source.change_key(ref)) in changed or (
                certificates_changed and grant.certificate_serial is not None)

        for live in self.registry:
            if not concerned(live.grant):
                continue
            why = revalidate(live.grant, directory, live.password_hash)
            if why is None:
                continue
            actor = self.store.last_actor(live.credential.kind.value, live.credential.name)
            text = f"disconnected: {why}" + (f" (by {actor})" if actor else "")
            log.info("disconnecting %s: %s", live.client_id, why)
            task = asyncio.ensure_future(
                broker.end_session(live.client_id, ReasonCode.CREDENTIAL_CHANGED, text, wait=False))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        for state in broker.offline_sessions():
            if not concerned(state.grant):
                continue
            why = revalidate(state.grant, directory, state.live.password_hash)
            if why is not None:
                broker.forget_session(state, f"discarded: {why}")

    def discard_session(self, client_id: str, *, by: str = "admin") -> int | None:
        """Drop the persistent session kept for `client_id` while its client is away, with everything it queued.

        Returns how many messages were queued or in flight for it; None when no session is kept for that clientId.
        A connected client's session is not discarded (kick it first, or it would come straight back).
        """
        broker = self._broker
        if broker is None:
            return None
        if client_id in self.registry:
            raise MqttdeskError(f"'{client_id}' is connected now; kick it first, then discard its session")
        state = broker.discard_session(client_id, f"discarded by {by}")
        if state is None:
            return None
        log.info("discarded the session of %s (by %s)", client_id, by)
        return len(state.queue) + len(state.inflight)

    def release_client_id(self, client_id: str, *, by: str = "admin") -> list[str]:
        """Free a clientId for any credential: discard the session kept for it and forget who last used it.

        Returns what was done, one sentence each (empty: nothing held the clientId).
        """
        done: list[str] = []
        queued = self.discard_session(client_id, by=by)
        if queued is not None:
            done.append(f"discarded the session kept for '{client_id}' ({queued} queued message{'s' * (queued != 1)})")
        owner = self.store.client_ids.release(client_id)
        if owner is not None:
            done.append(f"released clientId '{client_id}' (last used by {describe_owner(owner)})")
        return done

    # -- bans -------------------------------------------------------------------------------------

    def bans(self) -> list[Ban]:
        """The bans in force, newest first (the guard's: those it made and has not stored yet too)."""
        return self.guard.bans()

    def add_ban(self, kind: BanKind, value: str, *, seconds: float | None = None, reason: str = "",
                by: str = "admin") -> tuple[Ban, list[str]]:
        """Ban an address (or IPv6 /64), a username or a clientId, for `seconds` (None: until removed). Returns the
        ban and the clientIds of the sessions it disconnects (at once, through the store's change notice)."""
        if seconds is not None and seconds <= 0:
            raise MqttdeskError(f"a ban lasts a positive time, not {seconds:g} s")
        now = time.time()
        ban = Ban(kind, ban_value(kind, value), reason.strip() or "by an administrator", now,
                  None if seconds is None else now + seconds, actor=by)
        ending = [live.client_id for live in self._banned_sessions(ban)]
        self.store.bans.add(ban)
        return ban, ending

    def remove_ban(self, kind: BanKind, value: str) -> Ban:
        """Lift a ban (the address, username or clientId starts with a clean slate); NotFoundError without one."""
        return self.store.bans.remove(kind, ban_value(kind, value))

    def _banned_sessions(self, ban: Ban) -> list[LiveSession]:
        if ban.kind is BanKind.ADDRESS:
            return [live for live in self.registry if live.address in (ban.value,) or
                    (live.address is not None and address_source(live.address) == ban.value)]
        if ban.kind is BanKind.USERNAME:
            return [live for live in self.registry if live.username == ban.value]
        return [live for live in self.registry if live.client_id == ban.value]

    def _end_banned(self, key: str) -> None:
        """An administrator's ban (from any process) ends the sessions it names; the guard's own bans refuse new
        CONNECTs only (a device logged in with its right password stays, whoever guesses from its address)."""
        broker = self._broker
        kind, _, value = key.partition(":")
        ban = self.store.bans.get(BanKind(kind), value)
        if broker is None or ban is None or ban.automatic or not ban.active(time.time()):
            return
        text = f"disconnected: {ban.who()} was {ban.sentence(time.time())} (by {ban.actor})"
        for live in self._banned_sessions(ban):
            log.info("disconnecting %s: %s", live.client_id, text)
            task = asyncio.ensure_future(broker.end_session(live.client_id, ReasonCode.BANNED, text, wait=False))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    # -- the topic monitor ----------------------------------------------------------------------

    def add_monitor(self, monitor: MessageMonitor) -> None:
        """See every message the broker routes, as the broker itself (no permissions apply): the topic monitor."""
        self._monitors.append(monitor)
        if self._broker is not None:
            self._broker.monitors.append(monitor)

    def remove_monitor(self, monitor: MessageMonitor) -> None:
        if monitor in self._monitors:
            self._monitors.remove(monitor)
        if self._broker is not None and monitor in self._broker.monitors:
            self._broker.monitors.remove(monitor)

    def retained_messages(self, topic_filter: str) -> list[tuple[str, bytes, int]]:
        """(topic, payload, qos) of the retained messages matching a filter; none while the broker is stopped."""
        return [] if self._broker is None else self._broker.router.retained_messages(topic_filter)

    def clear_retained(self, topic: str) -> bool:
        """Clear a topic's retained message as the broker itself: an empty retained publish, which subscribers get
        too [MQTT-3.3.1-10]. False when the topic had none (or the broker is stopped)."""
        broker = self._broker
        if broker is None or not broker.router.retained_messages(topic):
            return False
        broker.route(topic, b"", 0, True)
        return True

    def publish_as(self, username: str | None, client_id: str, topic: str, payload: bytes, qos: int = 0,
                   retain: bool = False) -> Decision:
        """Publish a test message as an identity, through that identity's permissions; returns the decision."""
        connect = self.pipeline.impersonate(username, client_id)
        if not connect.allowed or connect.grant is None:
            return connect
        decision = replace(self.pipeline.decide_topic(Kind.PUBLISH, connect.grant, topic), address=TEST_PUBLISHER)
        self.recorder.record(decision)
        if decision.allowed and self._broker is not None:
            self._broker.route(topic, payload, qos, retain)
        return decision

    def require_authentication(self) -> int:
        """Turn anonymous access off; returns how many anonymous sessions it terminated (as Kaa reports it)."""
        anonymous = [live.client_id for live in self.registry if live.credential.kind is CredentialKind.ANONYMOUS]
        self.store.settings.set_anonymous(False)  # in-process: `_enforce` runs before this returns
        return len(anonymous) if self._broker is not None else 0

    async def _watch(self) -> None:
        last_prune = time.monotonic()
        while True:
            await asyncio.sleep(self._poll_interval)
            try:
                self.store.poll_external_changes()
                self.registry.flush_updates()
                self.guard.save_pending()
                if time.monotonic() - last_prune > PRUNE_INTERVAL:
                    last_prune = time.monotonic()
                    self.store.prune()
                    if self._tls is not None and self.store.pki.server_renewal_reason() is not None:
                        self.refresh_tls()  # nearing expiry: reissued with the same key
            except Exception:
                log.exception("store watch failed")
