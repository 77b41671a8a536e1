"""Turns the plain-Python callbacks of the store, the registry, the broker service and the decision recorder into
Qt signals, so models and widgets connect to signals and never register callbacks themselves.

Every callback arrives on the asyncio loop, which under qasync is the Qt main thread, so the signals are emitted
directly. After `detach()` (or once Qt has deleted the bridge) late callbacks are dropped instead of reaching a
dead object.
"""

from __future__ import annotations

import logging

import shiboken6
from PySide6.QtCore import QObject, Signal

from mqttdesk.broker.registry import SessionEvent
from mqttdesk.broker.service import BrokerService, BrokerStatus
from mqttdesk.store.auth_log_repo import AuthLogEntry
from mqttdesk.store.changes import Change

log = logging.getLogger(__name__)


class ServiceBridge(QObject):
    store_changed = Signal(object)  # tuple[Change, ...], after each committed write (ours or another process's)
    session_event = Signal(object)  # SessionEvent: CONNECTED / DISCONNECTED / UPDATED (batched)
    status_changed = Signal(object)  # BrokerStatus
    auth_entries = Signal(object)  # list[AuthLogEntry], as stored

    def __init__(self, service: BrokerService, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._service = service
        self._attached = True
        service.store.subscribe(self._on_store_changes)
        service.registry.subscribe(self._on_session_event)
        service.on_status(self._on_status)
        service.recorder.on_entries(self._on_entries)

    def detach(self) -> None:
        """Stop listening; safe to call twice."""
        if not self._attached:
            return
        self._attached = False
        self._service.store.unsubscribe(self._on_store_changes)
        self._service.registry.unsubscribe(self._on_session_event)
        self._service.remove_status_listener(self._on_status)
        self._service.recorder.remove_listener(self._on_entries)

    def _alive(self) -> bool:
        return self._attached and shiboken6.isValid(self)

    def _on_store_changes(self, changes: tuple[Change, ...]) -> None:
        if self._alive():
            self.store_changed.emit(changes)

    def _on_session_event(self, event: SessionEvent) -> None:
        if self._alive():
            self.session_event.emit(event)

    def _on_status(self, status: BrokerStatus) -> None:
        if self._alive():
            self.status_changed.emit(status)

    def _on_entries(self, entries: list[AuthLogEntry]) -> None:
        if self._alive():
            self.auth_entries.emit(entries)
