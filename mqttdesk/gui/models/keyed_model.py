"""A table model over records keyed by a string (a name, a clientId), kept in step with the store row by row.

Store change notices name one key each, so a model re-reads that one record and inserts, updates or removes its
row. A role change may touch many rows without naming them; then the model re-reads the list and applies the
difference, still as row inserts, removals and `dataChanged`, never a reset: a reset would drop the selection and
the scroll position while a fleet of devices is connecting.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Generic, TypeVar

from PySide6.QtCore import QModelIndex, QObject

from mqttdesk.gui.models.table_model import AnyIndex, ListTableModel

R = TypeVar("R")


class KeyedTableModel(ListTableModel, Generic[R]):
    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._records: list[R] = []
        self._rows: dict[str, int] = {}
        self._changed: list[tuple[int, int, int]] | None = None  # rows changed while `batched_changes` runs

    @staticmethod
    def key_of(record: R) -> str:
        raise NotImplementedError

    # -- reading ------------------------------------------------------------------------------------

    def row_total(self) -> int:
        return len(self._records)

    def record_at(self, row: int) -> R:
        return self._records[row]

    def row_of(self, key: str) -> int | None:
        return self._rows.get(key)

    def find(self, key: str) -> R | None:
        row = self._rows.get(key)
        return None if row is None else self._records[row]

    def records(self) -> list[R]:
        return list(self._records)

    def _record_of(self, index: AnyIndex) -> R | None:
        if not index.isValid() or index.row() >= len(self._records):
            return None
        return self._records[index.row()]

    # -- updating -----------------------------------------------------------------------------------

    def _reset_records(self, records: list[R]) -> None:
        """Replace everything (only when the model is built; later changes go row by row)."""
        self.beginResetModel()
        self._records = list(records)
        self._rows = {self.key_of(record): row for row, record in enumerate(self._records)}
        self.endResetModel()

    def _put(self, key: str, record: R | None) -> None:
        """Make the row of `key` show `record`: insert it, update it, or (for None) remove it."""
        row = self._rows.get(key)
        if record is None:
            if row is not None:
                self.beginRemoveRows(QModelIndex(), row, row)
                del self._records[row]
                del self._rows[key]
                for later in range(row, len(self._records)):
                    self._rows[self.key_of(self._records[later])] = later
                self.endRemoveRows()
        elif row is None:
            self.beginInsertRows(QModelIndex(), len(self._records), len(self._records))
            self._records.append(record)
            self._rows[key] = len(self._records) - 1
            self.endInsertRows()
        elif record != self._records[row]:
            self._records[row] = record
            self._row_changed(row)

    def _put_many(self, records: dict[str, R | None]) -> None:
        """`_put` for many keys; new rows are inserted as one block (a storm registers hundreds per notice)."""
        new = [record for key, record in records.items() if record is not None and key not in self._rows]
        with self.batched_changes():
            for key, record in records.items():
                if record is None or key in self._rows:
                    self._put(key, record)
        if new:
            first = len(self._records)
            self.beginInsertRows(QModelIndex(), first, first + len(new) - 1)
            self._records.extend(new)
            for row in range(first, len(self._records)):
                self._rows[self.key_of(self._records[row])] = row
            self.endInsertRows()

    def _sync(self, records: list[R]) -> None:
        """Apply the difference between the rows and `records` (e.g. after a role was deleted)."""
        wanted: dict[str, R | None] = {self.key_of(record): record for record in records}
        wanted.update({key: None for key in self._rows if key not in wanted})
        self._put_many(wanted)

    def _row_changed(self, row: int, first: int = 0, last: int | None = None) -> None:
        last = len(self.HEADERS) - 1 if last is None else last
        if self._changed is not None:
            self._changed.append((row, first, last))
        else:
            self.dataChanged.emit(self.index(row, first), self.index(row, last))

    @contextmanager
    def batched_changes(self) -> Iterator[None]:
        """Rows changed inside are announced as one `dataChanged` over their span: a storm's thousand session
        events were a thousand notices, each making every view look at its rows (the window's longest stall)."""
        if self._changed is not None:  # nested: the outer one announces
            yield
            return
        self._changed = []
        try:
            yield
        finally:
            changed, self._changed = self._changed, None
            if changed and self._records:
                rows = len(self._records) - 1
                # (rows removed meanwhile can leave a recorded row past the end: the span is kept inside the table)
                top = min(rows, min(row for row, _, _ in changed))
                bottom = min(rows, max(row for row, _, _ in changed))
                left, right = min(first for _, first, _ in changed), max(last for _, _, last in changed)
                self.dataChanged.emit(self.index(top, left), self.index(bottom, right))

    def _key_changed(self, key: str, first: int = 0, last: int | None = None) -> None:
        row = self._rows.get(key)
        if row is not None:
            self._row_changed(row, first, last)
