"""The one auth pipeline every front-end uses: the broker, the dry-run explainer, and re-validation after changes.

It keeps an in-memory `Directory` snapshot of the store (rebuilt when the store announces a change), so deciding
never touches SQLite, and caches topic decisions per (credential, clientId, kind, topic) until the next change.
It changes nothing itself: recording decisions and first-use activation are the caller's business (see
`recorder.py`), which is what makes a dry run a dry run.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Mapping

from mqttdesk.auth.verifier import PasswordVerifier
from mqttdesk.core.decide import decide_connect, decide_topic, password_hash_for
from mqttdesk.core.decision import ConnectRequest, Decision, Grant, Kind, SessionHolder
from mqttdesk.core.model import Directory
from mqttdesk.store.changes import Change, ChangeKind
from mqttdesk.store.db import Store

log = logging.getLogger(__name__)

TOPIC_CACHE_SIZE = 50_000
_NOBODY: Mapping[str, SessionHolder] = {}

DirectoryListener = Callable[[Directory, tuple[Change, ...]], None]


class AuthPipeline:
    def __init__(self, store: Store, verifier: PasswordVerifier | None = None) -> None:
        self._store = store
        self.verifier = verifier or PasswordVerifier()
        self._listen_host: str | None = None
        self._directory = store.directory()
        self._topic_cache: OrderedDict[tuple[object, ...], Decision] = OrderedDict()
        self._listeners: list[DirectoryListener] = []
        store.subscribe(self._on_store_changes)

    def close(self) -> None:
        self._store.unsubscribe(self._on_store_changes)

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
        relevant = tuple(c for c in changes if c.kind in (ChangeKind.USER, ChangeKind.ROLE, ChangeKind.SETTINGS))
        if not relevant:
            return
        self._directory = self._store.directory(self._listen_host)
        self._topic_cache.clear()
        if any(c.kind is ChangeKind.USER for c in relevant):
            # suspend / revoke / password change: forget verified passwords, as promised in verifier.py
            self.verifier.clear()
        for listener in list(self._listeners):
            try:
                listener(self._directory, relevant)
            except Exception:
                log.exception("directory listener failed")

    async def decide_connect(
        self, request: ConnectRequest, live: Mapping[str, SessionHolder] = _NOBODY
    ) -> Decision:
        encoded = password_hash_for(request, self._directory)
        password_ok: bool | None = None
        if encoded is not None and request.password is not None:
            password_ok = await self.verifier.verify(request.password, encoded)
        # the snapshot may have changed while the hash ran: decide on the current one, re-checking the hash
        if password_hash_for(request, self._directory) != encoded:
            return await self.decide_connect(request, live)
        return decide_connect(request, self._directory, password_ok=password_ok, live=live)

    def explain_connect(self, request: ConnectRequest, live: Mapping[str, SessionHolder] = _NOBODY) -> Decision:
        """The same decision, computed synchronously for a dry run (no event loop needed)."""
        encoded = password_hash_for(request, self._directory)
        password_ok: bool | None = None
        if encoded is not None and request.password is not None:
            password_ok = self.verifier.verify_blocking(request.password, encoded)
        return decide_connect(request, self._directory, password_ok=password_ok, live=live)

    def decide_topic(self, kind: Kind, grant: Grant, topic: str) -> Decision:
        key = (grant.credential, grant.client_id, grant.tenant, kind, topic)
        cached = self._topic_cache.get(key)
        if cached is not None:
            return cached
        decision = decide_topic(kind, grant, topic, self._directory)
        self._topic_cache[key] = decision
        if len(self._topic_cache) > TOPIC_CACHE_SIZE:
            self._topic_cache.popitem(last=False)
        return decision
