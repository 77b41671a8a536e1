"""The Banned table: who (an address, a username or a clientId), why, since and until when, and who banned it.

Rows are the service's bans (the login guard's, so a ban it made a moment ago is there before it is on disk), kept
current from the store's `ban` change notices row by row (`KeyedTableModel`); an expired ban leaves at the next
`refresh`, which the tab calls on a timer.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Qt

from mqttdesk.core.bans import Ban, BanKind
from mqttdesk.gui.formatting import format_time
from mqttdesk.gui.models.keyed_model import KeyedTableModel
from mqttdesk.gui.models.sorting import SORT_ROLE
from mqttdesk.gui.models.table_model import AnyIndex
from mqttdesk.store.changes import Change, ChangeKind

KIND_WORDS = {BanKind.ADDRESS: "address", BanKind.USERNAME: "username", BanKind.CLIENT_ID: "clientId"}
WHO, KIND, WHY, SINCE, UNTIL, BY = range(6)


class BansModel(KeyedTableModel[Ban]):
    HEADERS = ("Who", "Kind", "Why", "Since", "Until", "By")
    HEADER_TIPS = ("The address (or IPv6 /64), username or clientId refused at CONNECT",
                   "What the ban names", "Why it was banned: guessing, flapping, or an administrator's words",
                   "When the ban began", "When it ends by itself (or until removed)",
                   "automatic: the login guard; otherwise who added it")

    def __init__(self, bans: Callable[[], list[Ban]], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._bans = bans
        self._reset_records(bans())

    @staticmethod
    def key_of(record: Ban) -> str:
        return record.key

    def refresh(self) -> None:
        self._sync(self._bans())

    def on_store_changes(self, changes: tuple[Change, ...]) -> None:
        if any(change.kind is ChangeKind.BAN for change in changes):
            self.refresh()

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        ban = self._record_of(index)
        if ban is None:
            return None
        column = index.column()
        if role == SORT_ROLE:
            if column == SINCE:
                return ban.since
            if column == UNTIL:
                return float("inf") if ban.until is None else ban.until
            return self.data(index, Qt.ItemDataRole.DisplayRole)
        if role == Qt.ItemDataRole.DisplayRole:
            return (ban.value, KIND_WORDS[ban.kind], ban.reason, format_time(ban.since, seconds=True),
                    "until removed" if ban.until is None else format_time(ban.until, seconds=True), ban.actor)[column]
        if role == Qt.ItemDataRole.ToolTipRole:
            return ban.sentence(time.time())
        return None
