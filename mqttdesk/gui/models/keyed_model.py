"""A table model over records keyed by a string (a name, a clientId), kept in step with the store row by row.

Store change notices name one key each, so a model re-reads that one record and inserts, updates or removes its
row. A role change may touch many rows without naming them; then the model re-reads the list and applies the
difference, still as row inserts, removals and `dataChanged`, never a reset: a reset would drop the selection and
the scroll position while a fleet of devices is connecting.

The model sorts and filters its own rows (`sorted_rows`) when its view asks it to (a header click calls `sort`,
a filter box `set_filter`); a model shown through a proxy is never asked and keeps its rows in arrival order.
`FILTER_COLUMN` is the column the filter text is looked for in (-1: any column), `_display` a cell's text.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from contextlib import contextmanager
from typing import Any, ClassVar, Generic, TypeVar

from PySide6.QtCore import QObject

from mqttdesk.gui.models.sorted_rows import SortedRowsModel
from mqttdesk.gui.models.table_model import AnyIndex

R = TypeVar("R")


class KeyedTableModel(SortedRowsModel[R], Generic[R]):
    FILTER_COLUMN: ClassVar[int] = 0

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        # while `batched_changes` runs: the column spans changed, and the keys of the items they changed (shown or
        # hidden; keys, not rows: rows inserted or removed meanwhile move the others)
        self._changed: list[tuple[int, int]] | None = None
        self._changed_keys: set[str] = set()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.item_key = staticmethod(cls.key_of)  # type: ignore[method-assign,assignment]  # one call a key, not two

    @staticmethod
    def key_of(record: R) -> str:
        raise NotImplementedError

    def item_key(self, item: R) -> str:
        return self.key_of(item)

    def _display(self, record: R, column: int) -> str:
        return self.key_of(record)

    def _sort_key(self, record: R, column: int) -> Any:
        return self._display(record, column).lower()

    def _matches(self, record: R, text: str) -> bool:
        columns = range(len(self.HEADERS)) if self.FILTER_COLUMN < 0 else (self.FILTER_COLUMN,)
        return any(text in self._display(record, column).lower() for column in columns)

    # -- reading ------------------------------------------------------------------------------------

    def record_at(self, row: int) -> R:
        return self._items[row]

    def row_of(self, key: str) -> int | None:
        """The row showing `key`; None when there is none or the filter leaves it out."""
        return self._rows.get(key)

    def find(self, key: str) -> R | None:
        """The record of `key`, shown or left out by the filter."""
        row = self._rows.get(key)
        return self._hidden.get(key) if row is None else self._items[row]

    def records(self) -> list[R]:
        return self.all_items()

    def _record_of(self, index: AnyIndex) -> R | None:
        if not index.isValid() or index.row() >= len(self._items):
            return None
        return self._items[index.row()]

    # -- updating -----------------------------------------------------------------------------------

    def _reset_records(self, records: list[R]) -> None:
        """Replace everything (only when the model is built; later changes go row by row)."""
        self._set_items(records)

    def _put(self, key: str, record: R | None) -> None:
        """Make the row of `key` show `record`: insert it, update it, or (for None) remove it; a record the
        filter leaves out is kept aside instead."""
        row = self._rows.get(key)
        if record is None:
            if row is not None:
                self._remove_rows([row])
            else:
                self._hidden.pop(key, None)
        elif row is not None:
            if record != self._items[row]:
                self._items[row] = record
                self._row_changed(row)
        elif not self._shows(record):
            self._hidden[key] = record
        else:
            self._hidden.pop(key, None)
            self._insert_sorted([record])

    def _put_many(self, records: dict[str, R | None]) -> None:
        """`_put` for many keys; new rows are inserted together (a storm registers hundreds per notice)."""
        known = self._rows.keys() | self._hidden.keys()
        with self.batched_changes():
            for key, record in records.items():
                if record is None or key in known:
                    self._put(key, record)
        shown = []
        for key, record in records.items():
            if record is not None and key not in known:
                if self._shows(record):
                    shown.append(record)
                else:
                    self._hidden[key] = record
        self._insert_sorted(shown)

    def _sync(self, records: list[R]) -> None:
        """Apply the difference between the rows and `records` (e.g. after a role was deleted)."""
        wanted: dict[str, R | None] = {self.key_of(record): record for record in records}
        wanted.update({key: None for key in (*self._rows, *self._hidden) if key not in wanted})
        self._put_many(wanted)

    def _row_changed(self, row: int, first: int = 0, last: int | None = None) -> None:
        last = len(self.HEADERS) - 1 if last is None else last
        key = self.key_of(self._items[row])
        if self._changed is not None:
            self._changed.append((first, last))
            self._changed_keys.add(key)
        else:
            self._keys_changed((key,), first, last)

    def _keys_changed(self, keys: Collection[str], first: int, last: int) -> None:
        """Cells of these columns changed in the records of `keys` (shown or left out by the filter): one
        `dataChanged` over the span of their rows, then the filter and the sort order are applied again."""
        rows = [self._rows[key] for key in keys if key in self._rows]
        if rows:
            self.dataChanged.emit(self.index(min(rows), first), self.index(max(rows), last))
        self._rows_changed(first, last, keys)

    def _columns_changed(self, first: int, last: int) -> None:
        """Cells of these columns changed in every row (and in the records the filter leaves out)."""
        if self._items:
            self.dataChanged.emit(self.index(0, first), self.index(len(self._items) - 1, last))
        self._rows_changed(first, last)

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
            keys, self._changed_keys = self._changed_keys, set()
            if changed:
                self._keys_changed(keys, min(first for first, _ in changed), max(last for _, last in changed))
            elif keys and self.filtering:
                self._refilter(keys)

    def _key_changed(self, key: str, first: int = 0, last: int | None = None) -> None:
        row = self._rows.get(key)
        if row is not None:
            self._row_changed(row, first, last)
        elif key in self._hidden and self.filtering:  # what it shows changed: the filter may take it in now
            if self._changed is not None:
                self._changed_keys.add(key)
            else:
                self._refilter((key,))
