"""The one auth pipeline every front-end uses: the broker, the dry-run explainer, and re-validation after changes.

It keeps an in-memory `Directory` snapshot of the store (rebuilt when the store announces a change), so deciding
never touches SQLite, and caches topic decisions per (credential, clientId, kind, topic) until the next change.
It changes nothing itself: recording decisions and first-use activation are the caller's business (see
`recorder.py`), which is what makes a dry run a dry run.

A CONNECT whose username no local credential has is put to the sources that are not local, in their order: a
token is verified in the loop (a signature check is microseconds, not a password hash's hundred milliseconds), the
external HTTP service is called without blocking it (`external.py`); `decide_connect` gets their answer. The topics
of a client the service admitted are the service's to decide too (`external_topic`, `decide_topic` from its cache).

A CONNECT's password is checked by the `PasswordVerifier` (queued fairly per client address, see verifier.py);
`check_password` lets the broker do that before it takes the clientId's lock, so CONNECTs queued for one clientId
wait for one another's decisions, never for one another's hashes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace

from mqttdesk.auth.external import ExternalService
from mqttdesk.auth.verifier import GoneTest, PasswordVerifier, Verdict
from mqttdesk.core import tokens
from mqttdesk.core.decide import (
    credential_record,
    decide_connect,
    decide_topic,
    decide_unchecked,
    decide_vouched,
    password_hash_for,
)
from mqttdesk.core.decision import ConnectRequest, Decision, Grant, Kind, SessionHolder, SourceAnswer
from mqttdesk.core.external import Answer, acl_body, shown_body, user_body
from mqttdesk.core.external_decisions import ACC_OF_KIND, connect_answer, preflight, topic_decision
from mqttdesk.core.model import CredentialKind, CredentialRef, Device, Directory, Method
from mqttdesk.core.reasons import Reason, ReasonCode
from mqttdesk.core.sources import source_of_change
from mqttdesk.core.states import CredentialState
from mqttdesk.core.values import value_record
from mqttdesk.store.changes import Change, ChangeKind
from mqttdesk.store.db import Store

log = logging.getLogger(__name__)

TOPIC_CACHE_SIZE = 50_000
_NOBODY: Mapping[str, SessionHolder] = {}

DirectoryListener = Callable[[Directory, tuple[Change, ...]], None]
_DIRECTORY_KINDS = frozenset({ChangeKind.USER, ChangeKind.BOOTSTRAP, ChangeKind.DEVICE, ChangeKind.ROLE,
                              ChangeKind.SETTINGS, ChangeKind.CLIENT_ID, ChangeKind.TOKEN,
                              ChangeKind.CERTIFICATE})  # revoked serials, trusted CAs (client certificate logins)


class _RecentOverStored(Mapping[str, CredentialRef]):
    """`recent` read over `stored`, as `ChainMap(recent, stored)` reads, with a lookup that is two dict gets
    (ChainMap's runs a generator over its maps: every CONNECT looks its clientId up here)."""

    __slots__ = ("_recent", "_stored")

    def __init__(self, recent: Mapping[str, CredentialRef], stored: Mapping[str, CredentialRef]) -> None:
        self._recent, self._stored = recent, stored

    def __getitem__(self, client_id: str) -> CredentialRef:
        owner = self._recent.get(client_id)
        return self._stored[client_id] if owner is None else owner

    def get(self, client_id: str, default: CredentialRef | None = None) -> CredentialRef | None:  # type: ignore[override]
        owner = self._recent.get(client_id)
        return self._stored.get(client_id, default) if owner is None else owner

    def __contains__(self, client_id: object) -> bool:
        return client_id in self._recent or client_id in self._stored

    def __iter__(self) -> Iterator[str]:
        return iter({**self._stored, **self._recent})

    def __len__(self) -> int:
        return len(self._stored.keys() | self._recent.keys())


_NOT_YET = Answer(False, ReasonCode.EXTERNAL_TIMEOUT, "no answer yet (it is being asked)")


def _retrieved(task: asyncio.Future[Decision]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("external HTTP check failed: %r", task.exception())


@value_record
class CheckedPassword:
    """The outcome of checking a CONNECT's password against `encoded` (None: no check applied)."""

    encoded: str | None
    verdict: Verdict | None
    snapshot: int = -1  # the pipeline's `_snapshot` when `encoded` was looked up (-1: unknown, look again)


_NOT_CHECKED = {
    Verdict.BUSY: (ReasonCode.SERVER_BUSY, "the broker has too many password checks waiting; the client may retry "
                   "shortly (each address gets its share of the queue)"),
    Verdict.GONE: (ReasonCode.CLIENT_GONE, "the client closed the connection before its password was checked; "
                   "nothing was computed"),
}


def _secrets_weakened(before: Directory, after: Directory, changes: tuple[Change, ...]) -> bool:
    """Whether a changed credential lost its password or its standing (so cached verifications must go).

    Registrations and first uses change credentials all the time during a storm; they must not empty the cache.
    """
    for change in changes:
        source = source_of_change(change.kind.value)
        if source is None:
            continue
        old = source.record(change.key, before)
        new = source.record(change.key, after)
        if old is None:
            continue
        if new is None or new.password_hash != old.password_hash or not new.state.admits:
            return True
    return False


class AuthPipeline:
    def __init__(self, store: Store, verifier: PasswordVerifier | None = None) -> None:
        self._store = store
        self._owns_verifier = verifier is None
        self.verifier = verifier if verifier is not None else PasswordVerifier()  # an empty one is falsy (len)
        self._listen_host: str | None = None
        # clientId -> credential of accepted CONNECTs not yet known to be on disk (the recorder writes in batches)
        self._recent_owners: dict[str, CredentialRef] = {}
        self._unsaved_devices: dict[str, Device] = {}
        self._devices: dict[str, Device] = {}  # the snapshot's devices: admit_device adds to it in place
        # bumped whenever the snapshot is replaced or changed in place: a password checked against the hash looked
        # up at the same count is checked against the hash the snapshot still gives (no second lookup)
        self._snapshot = 0
        self._directory = self._with_recent_owners(self._with_unsaved(store.directory()))
        self._topic_cache: OrderedDict[tuple[object, ...], Decision] = OrderedDict()
        # changes whenever topic decisions may have changed: whoever remembers decisions compares it
        self.epoch = 0
        self._listeners: list[DirectoryListener] = []
        self.external = ExternalService()
        store.subscribe(self._on_store_changes)

    def close(self) -> None:
        self._store.unsubscribe(self._on_store_changes)
        if self._owns_verifier:
            self.verifier.close()

    @property
    def directory(self) -> Directory:
        return self._directory

    def set_listen_host(self, host: str | None) -> None:
        """Anonymous access in "auto" mode depends on where the broker listens; None means the stored setting."""
        self._listen_host = host
        self._on_store_changes((Change(ChangeKind.SETTINGS, "listener.host"),))

    def on_directory_changed(self, listener: DirectoryListener) -> None:
        """Called after the snapshot was rebuilt (the broker re-validates live sessions here)."""
        self._listeners.append(listener)

    def _on_store_changes(self, changes: tuple[Change, ...]) -> None:
        relevant = tuple(c for c in changes if c.kind in _DIRECTORY_KINDS)
        if not relevant:
            return
        if all(c.kind is ChangeKind.DEVICE and c.key in self._unsaved_devices for c in relevant):
            # only the recorder writing devices this pipeline admitted: the snapshot has them already. Re-reading
            # every credential here, every 0.1 s of a registration storm, was a fifth of the broker's CPU.
            for change in relevant:
                del self._unsaved_devices[change.key]
            return
        for change in relevant:
            if change.kind is ChangeKind.CLIENT_ID:
                self._recent_owners.pop(change.key, None)  # released by an administrator
        if any(c.kind is ChangeKind.SETTINGS and c.key.startswith("external") for c in relevant):
            self.external.clear()  # other settings, or `mqttdesk external flush`: its answers may no longer hold
        previous = self._directory
        self._directory = self._with_recent_owners(self._with_unsaved(self._store.directory(self._listen_host)))
        self._snapshot += 1
        self._topic_cache.clear()
        self.epoch += 1
        if _secrets_weakened(previous, self._directory, relevant):
            # suspend / revoke / password change: forget verified (and known-wrong) passwords, as verifier.py says
            self.verifier.clear()
        for listener in list(self._listeners):
            try:
                listener(self._directory, relevant)
            except Exception:
                log.exception("directory listener failed")

    def _with_unsaved(self, directory: Directory) -> Directory:
        """Keep devices registered in memory whose record the recorder has not written yet."""
        for client_id in [c for c in self._unsaved_devices if c in directory.devices]:
            del self._unsaved_devices[client_id]
        self._devices = {**directory.devices, **self._unsaved_devices}
        return replace(directory, devices=self._devices)

    def _with_recent_owners(self, directory: Directory) -> Directory:
        """The stored last-use records, overlaid with what this pipeline admitted since (kept in step by
        `note_client_id` without rebuilding the snapshot for every CONNECT)."""
        stored = directory.client_id_owners
        for client_id in [c for c, ref in self._recent_owners.items() if stored.get(c) == ref]:
            del self._recent_owners[client_id]
        return replace(directory, client_id_owners=_RecentOverStored(self._recent_owners, dict(stored)))

    def note_client_id(self, client_id: str, credential: CredentialRef) -> None:
        """An accepted CONNECT: `credential` is now the last one to have used `client_id` (anonymous claims none)."""
        if client_id and credential.kind is not CredentialKind.ANONYMOUS:
            self._recent_owners[client_id] = credential
            self._snapshot += 1

    def admit_device(self, grant: Grant, address: str | None) -> Device:
        """Register the device of an accepted bootstrap CONNECT in the snapshot now; the caller stores it.

        From this moment the clientId belongs to the device, so its next CONNECT takes the device path even if
        the record is still on its way to the disk.
        """
        assert grant.registers is not None
        bootstrap = self._directory.bootstraps[grant.registers]
        now = time.time()
        device = Device(
            client_id=grant.client_id, label="", bootstrap=bootstrap.name, username=bootstrap.name,
            password_hash=bootstrap.password_hash, state=CredentialState.ACTIVE, roles=(), created=now,
            state_since=now, last_used=now, last_address=address,
        )
        self._unsaved_devices[device.client_id] = device
        self._snapshot += 1
        # into the snapshot's own dict: a new snapshot with a copy of every device, per registration, made a
        # storm of N new devices cost N² (200 µs a CONNECT with 10,000 devices)
        self._devices[device.client_id] = device
        return device

    async def check_password(self, request: ConnectRequest, gone: GoneTest | None = None, *,
                             suspect: bool = False, trusted: bool = False) -> CheckedPassword:
        """Check the CONNECT's password against the credential it names now; `gone` tells if the client left; a
        `suspect` check (its address failed a login lately, see core/guard.py) waits behind every other, a
        `trusted` one (a correct login there lately) goes first."""
        snapshot = self._snapshot
        encoded = password_hash_for(request, self._directory)
        if encoded is None or request.password is None:
            return CheckedPassword(None, None, snapshot)
        verdict = await self.verifier.check(request.password, encoded, source=request.address, gone=gone,
                                            suspect=suspect, trusted=trusted)
        return CheckedPassword(encoded, verdict, snapshot)

    async def decide_connect(
        self, request: ConnectRequest, live: Mapping[str, SessionHolder] = _NOBODY, *,
        gone: GoneTest | None = None, checked: CheckedPassword | None = None,
    ) -> Decision:
        """Decide a CONNECT; `checked` is the outcome of an earlier `check_password` for it, if any."""
        if checked is None:
            checked = await self.check_password(request, gone)
        # the snapshot may have changed while the hash ran: decide on the current one, re-checking the hash
        while checked.snapshot != self._snapshot and password_hash_for(request, self._directory) != checked.encoded:
            checked = await self.check_password(request, gone)
        if checked.verdict in _NOT_CHECKED:
            code, text = _NOT_CHECKED[checked.verdict]
            return decide_unchecked(request, self._directory, code, text)
        password_ok = None if checked.verdict is None else checked.verdict is Verdict.RIGHT
        request, answer = self.not_local(request)
        if answer is None and self._asks_external(request):
            answer = await self._external_connect(request)
        return decide_connect(request, self._directory, password_ok=password_ok, live=live, answer=answer)

    def _local(self, request: ConnectRequest) -> bool:
        """Anonymous, or a username a local credential has: decided locally, never by a source that is not."""
        return not request.username or credential_record(
            "" if request.client_id_assigned else request.client_id, request.username, self._directory) is not None

    def not_local(self, request: ConnectRequest) -> tuple[ConnectRequest, SourceAnswer | None]:
        """What the token source says of a CONNECT no local credential knows; None when it carries no token. The
        request comes back as the Auth log may show it (a token in the username field replaced by its subject).
        The external service, next in order, is asked by `decide_connect` when this says nothing."""
        if self._local(request):
            return request, None
        if self._directory.token_issuers:
            found = tokens.answer(request, self._directory)
            if found is not None:
                return found
        return request, None

    def _asks_external(self, request: ConnectRequest) -> bool:
        return self._directory.external.active and not self._local(request)

    async def _external_connect(self, request: ConnectRequest) -> SourceAnswer:
        settings = self._directory.external
        body = user_body(str(request.username), request.password, request.client_id)
        answer = await self.external.ask(settings, settings.user_url(), body)
        will = None
        if answer.allowed and request.will_topic is not None:
            grant = Grant(Method.HTTP, CredentialRef(CredentialKind.EXTERNAL, str(request.username)),
                          request.username, request.client_id)
            will = await self.external_topic(Kind.PUBLISH, grant, request.will_topic)
        return connect_answer(settings, request, answer, shown_body(body), will)

    async def recheck_external(self, request: ConnectRequest) -> Answer:
        """Ask the external service again about a live session's CONNECT (its cached allow expired)."""
        settings = self._directory.external
        body = user_body(str(request.username), request.password, request.client_id)
        return await self.external.ask(settings, settings.user_url(), body)

    def explain_connect(self, request: ConnectRequest, live: Mapping[str, SessionHolder] = _NOBODY) -> Decision:
        """The same decision, computed synchronously for a dry run (no event loop needed). The external service
        is called only where no event loop runs (the CLI); in the window its cached answer counts, else none."""
        encoded = password_hash_for(request, self._directory)
        password_ok: bool | None = None
        if encoded is not None and request.password is not None:
            password_ok = self.verifier.verify_blocking(request.password, encoded)
        request, answer = self.not_local(request)
        if answer is None and self._asks_external(request):
            answer = self._external_connect_now(request)
        return decide_connect(request, self._directory, password_ok=password_ok, live=live, answer=answer)

    def _external_connect_now(self, request: ConnectRequest) -> SourceAnswer:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self._external_connect(request))
        settings = self._directory.external
        body = user_body(str(request.username), request.password, request.client_id)
        cached = self.external.cached(settings.user_url(), body)
        if cached is not None:
            return connect_answer(settings, request, cached, shown_body(body))
        text = "a dry run in the window does not call the external HTTP service (its Test button does)"
        return SourceAnswer(Method.HTTP, (f"external HTTP service: {settings.user_url()} not called",),
                            refusal=Reason(ReasonCode.EXTERNAL_UNREACHABLE, text))

    # -- topics of the clients the external service admitted ---------------------------------------

    async def external_topic(self, kind: Kind, grant: Grant, topic: str) -> Decision:
        """Ask the service (or its cache) whether an externally authenticated session may do this."""
        refused = preflight(kind, grant, topic)
        if refused is not None:
            return refused
        settings = self._directory.external
        body = acl_body(str(grant.username), grant.client_id, topic, ACC_OF_KIND[kind])
        answer = await self.external.ask(settings, settings.acl_url(), body)
        return topic_decision(kind, grant, topic, answer, settings, shown_body(body))

    def external_topic_cached(self, kind: Kind, grant: Grant, topic: str) -> Decision | None:
        """The decision the cache holds for it, or None (nothing is asked)."""
        refused = preflight(kind, grant, topic)
        if refused is not None:
            return refused
        settings = self._directory.external
        body = acl_body(str(grant.username), grant.client_id, topic, ACC_OF_KIND[kind])
        answer = self.external.cached(settings.acl_url(), body)
        return None if answer is None else topic_decision(kind, grant, topic, answer, settings, shown_body(body))

    def _external_topic_now(self, kind: Kind, grant: Grant, topic: str) -> Decision:
        """For a caller that cannot wait (a shared subscription's pick, a queued message, a will): the cached
        decision, else a refusal while the answer is fetched in the background for the next time."""
        cached = self.external_topic_cached(kind, grant, topic)
        if cached is not None:
            return cached
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self.external_topic(kind, grant, topic))
        task = asyncio.ensure_future(self.external_topic(kind, grant, topic))
        task.add_done_callback(_retrieved)
        settings = self._directory.external
        return topic_decision(kind, grant, topic, _NOT_YET, settings, "(asked now, in the background)")

    def impersonate(self, username: str | None, client_id: str) -> Decision:
        """The CONNECT decision for an identity *as if* its password were right (an administrator acting as it).

        The topic monitor publishes test messages this way, through exactly the permissions that identity has.
        """
        return decide_vouched(username, client_id, self._directory)

    def decide_topic(self, kind: Kind, grant: Grant, topic: str) -> Decision:
        if grant.credential.kind is CredentialKind.EXTERNAL:
            return self._external_topic_now(kind, grant, topic)
        key = (grant.credential, grant.client_id, grant.tenant, grant.rules, kind, topic)
        cached = self._topic_cache.get(key)
        if cached is not None:
            return cached
        decision = decide_topic(kind, grant, topic, self._directory)
        self._topic_cache[key] = decision
        if len(self._topic_cache) > TOPIC_CACHE_SIZE:
            self._topic_cache.popitem(last=False)
        return decision
