"""Turns the plain-Python callbacks of the store, the registry, the broker service and the decision recorder into
Qt signals, so models and widgets connect to signals and never register callbacks themselves.

Every callback arrives on the asyncio loop, which under qasync is the Qt main thread, so the signals are emitted
directly. After `detach()` (or once Qt has deleted the bridge) late callbacks are dropped instead of reaching a
dead object.
"""

from __future__ import annotations

import logging

import shiboken6
from PySide6.QtCore import QObject, QTimer, Signal

from mqttdesk.broker.registry import SessionEvent
from mqttdesk.broker.service import BrokerService, BrokerStatus
from mqttdesk.core.device_traffic import DeviceFacts
from mqttdesk.store.auth_log_repo import AuthLogEntry
from mqttdesk.store.changes import Change

log = logging.getLogger(__name__)

SESSION_BATCH_MS = 200  # how long session events are collected before the views hear of them (see _on_session_event)


class ServiceBridge(QObject):
    store_changed = Signal(object)  # tuple[Change, ...], after each committed write (ours or another process's)
    session_events = Signal(object)  # list[SessionEvent] (CONNECTED / DISCONNECTED / UPDATED), in order, batched
    status_changed = Signal(object)  # BrokerStatus
    auth_entries = Signal(object)  # list[AuthLogEntry], as stored
    device_changed = Signal(object)  # DeviceFacts: a recognised device said something new (LWT, INFO, an answer)

    def __init__(self, service: BrokerService, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._service = service
        self._attached = True
        self._pending_events: list[SessionEvent] = []
        self._batch_timer = QTimer(self)
        self._batch_timer.setSingleShot(True)
        self._batch_timer.setInterval(SESSION_BATCH_MS)
        self._batch_timer.timeout.connect(self._emit_session_events)
        service.store.subscribe(self._on_store_changes)
        service.registry.subscribe(self._on_session_event)
        service.on_status(self._on_status)
        service.recorder.on_entries(self._on_entries)
        service.devices.subscribe(self._on_device)

    def detach(self) -> None:
        """Stop listening; safe to call twice."""
        if not self._attached:
            return
        self._attached = False
        self._service.store.unsubscribe(self._on_store_changes)
        self._service.registry.unsubscribe(self._on_session_event)
        self._service.remove_status_listener(self._on_status)
        self._service.recorder.remove_listener(self._on_entries)
        self._service.devices.unsubscribe(self._on_device)

    def _alive(self) -> bool:
        return self._attached and shiboken6.isValid(self)

    def _on_store_changes(self, changes: tuple[Change, ...]) -> None:
        if self._alive():
            self.store_changed.emit(changes)

    def _on_session_event(self, event: SessionEvent) -> None:
        # Sessions are handed on in batches: a storm of 1,000 devices sent one by one through every model and
        # view held the window for a quarter of a second; batched, a model inserts or removes rows as blocks. Each
        # batch also repaints the Clients table (10-30 ms with a full screen of rows): five a second, not twenty.
        if not self._alive():
            return
        self._pending_events.append(event)
        if not self._batch_timer.isActive():
            self._batch_timer.start()

    def _emit_session_events(self) -> None:
        events, self._pending_events = self._pending_events, []
        if events and self._alive():
            self.session_events.emit(events)

    def _on_status(self, status: BrokerStatus) -> None:
        if self._alive():
            self.status_changed.emit(status)

    def _on_device(self, facts: DeviceFacts) -> None:
        if self._alive():
            self.device_changed.emit(facts)

    def _on_entries(self, entries: list[AuthLogEntry]) -> None:
        if self._alive():
            self.auth_entries.emit(entries)
