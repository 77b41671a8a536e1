"""What the credential tables (users, bootstrap credentials, devices) share: rows kept in step with store change
notices and session events, states sorted in their lifecycle order, and the "Last forced disconnect" column, kept
current from new Auth log entries (see `forced_disconnects`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, Protocol, TypeVar

from PySide6.QtCore import QObject, Slot

from mqttdesk.broker.registry import SessionEvent, SessionRegistry
from mqttdesk.core.states import CredentialState
from mqttdesk.gui.models.forced_disconnects import ForcedDisconnects, Lookup
from mqttdesk.gui.models.keyed_model import KeyedTableModel
from mqttdesk.store.auth_log_repo import AuthLogEntry
from mqttdesk.store.changes import Change
from mqttdesk.store.db import Store

STATE_ORDER = {state: order for order, state in enumerate(CredentialState)}  # sort key of the state column


class Created(Protocol):
    @property
    def created(self) -> float: ...


C = TypeVar("C", bound=Created)


class CredentialTableModel(KeyedTableModel[C]):
    """A keyed table of credentials. `STATE_COLUMN` shows the state, `FORCED_COLUMN` the last forced disconnect,
    looked up by username or by clientId (`lookup`). Subclasses follow the store and the registry through
    `on_store_changes` and `on_session_event`; `on_auth_entries` is the same for all of them."""

    STATE_COLUMN: ClassVar[int]
    FORCED_COLUMN: ClassVar[int]

    def __init__(self, store: Store, registry: SessionRegistry, lookup: Lookup, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._store = store
        self._registry = registry
        self._forced = ForcedDisconnects(store, lookup)

    def last_forced_disconnect(self, record: C) -> AuthLogEntry | None:
        """The latest forced disconnect of this credential, none from before it was created (a deleted namesake's)."""
        return self._forced.latest(self.key_of(record), since=record.created)

    def _forced_sort_key(self, record: C) -> float:
        forced = self.last_forced_disconnect(record)
        return 0.0 if forced is None else forced.time

    def _tenant(self, record: C) -> str | None:
        """The record's tenant ("" for none); None for a kind of credential without tenants."""
        return None

    def _matches(self, record: C, text: str) -> bool:
        """The filter box: "@acme" the credentials of tenant acme (a prefix, so it narrows while typing; "@" alone:
        any tenant), plain text part of the `FILTER_COLUMN`'s text or of the tenant."""
        tenant = self._tenant(record)
        if tenant is not None:
            if text.startswith("@"):
                return bool(tenant) and tenant.lower().startswith(text[1:])
            if text in tenant.lower():
                return True
        return super()._matches(record, text)

    def on_store_changes(self, changes: Sequence[Change]) -> None:
        raise NotImplementedError

    def on_session_event(self, event: SessionEvent) -> None:
        raise NotImplementedError

    @Slot(object)
    def on_session_events(self, events: list[SessionEvent]) -> None:
        with self.batched_changes():
            for event in events:
                self.on_session_event(event)

    @Slot(object)
    def on_auth_entries(self, entries: list[AuthLogEntry]) -> None:
        with self.batched_changes():
            known = self._rows.keys() | self._hidden.keys() if self._hidden else self._rows
            for key in self._forced.note(entries, known):
                self._key_changed(key, self.FORCED_COLUMN, self.FORCED_COLUMN)
