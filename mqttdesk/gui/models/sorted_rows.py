"""A table model that sorts and filters its own rows, so its view needs no QSortFilterProxyModel.

Through a proxy every cell a repaint draws costs three Python calls instead of one, and rows arriving in a sorted
table are placed by the proxy's binary search with two Python `data()` calls per comparison: a storm's batch of 40
new devices in a 1,000-device table took ~7 ms (the longest thing the window did during a storm), ~0.6 ms here.

Rows are a list of items, each named by a string key (`item_key`). The items the filter leaves out are kept aside
(`_hidden`), so a change to one of them can bring it back. A subclass says what a column sorts by (`_sort_key`) and
whether an item matches the filter text (`_matches`); it reports changed rows through `_rows_changed`, which
re-sorts when the sort column changed and re-filters when a filter is set, the way a dynamic proxy did.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Generic, TypeVar

from PySide6.QtCore import QModelIndex, QObject, Qt

from mqttdesk.gui.models.table_model import AnyIndex, ListTableModel

T = TypeVar("T")


class SortedRowsModel(ListTableModel, Generic[T]):
    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._items: list[T] = []  # the rows shown, in order
        self._rows: dict[str, int] = {}  # key -> row of the shown items
        self._hidden: dict[str, T] = {}  # items the filter leaves out
        self._filter = ""  # lower case, stripped ("" shows all)
        self._sort_column = -1  # -1: in arrival order
        self._descending = False

    def item_key(self, item: T) -> str:
        raise NotImplementedError

    def _sort_key(self, item: T, column: int) -> Any:
        raise NotImplementedError

    def _matches(self, item: T, text: str) -> bool:
        """Whether `item` passes the filter `text` (lower case, never empty)."""
        raise NotImplementedError

    # -- reading ------------------------------------------------------------------------------------

    def row_total(self) -> int:
        return len(self._items)

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008, N802
        # (asked for every cell a repaint draws: no detour through row_total)
        return 0 if parent.isValid() else len(self._items)

    def item_total(self) -> int:
        """Every item the table holds, shown or left out by the filter."""
        return len(self._items) + len(self._hidden)

    def all_items(self) -> list[T]:
        """The rows in order, then the items the filter leaves out."""
        return [*self._items, *self._hidden.values()]

    @property
    def filtering(self) -> bool:
        return bool(self._filter)

    # -- sorting and filtering ---------------------------------------------------------------------

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """What a click on a column header asks for (QTableView calls it): the rows in that column's order."""
        self._sort_column = column
        self._descending = order == Qt.SortOrder.DescendingOrder
        self._resort()

    def set_filter(self, text: str) -> None:
        """Show only the items that match `text` (case-insensitive; "" shows all)."""
        wanted = text.strip().lower()
        if wanted != self._filter:
            self._filter = wanted
            self._set_items(self.all_items())

    def _shows(self, item: T) -> bool:
        return not self._filter or self._matches(item, self._filter)

    def _key_of(self, item: T) -> Any:
        return self._sort_key(item, self._sort_column)

    def _set_items(self, items: Iterable[T]) -> None:
        """Replace every item (a model reset: only when the model is built or everything was read again)."""
        self.beginResetModel()
        self._items, self._hidden = [], {}
        for item in items:
            if self._shows(item):
                self._items.append(item)
            else:
                self._hidden[self.item_key(item)] = item
        if self._sort_column >= 0:
            self._items.sort(key=self._key_of, reverse=self._descending)
        self._rows = {}
        self._reindex()
        self.endResetModel()

    def _reindex(self, start: int = 0) -> None:
        # (runs over every row after the first one inserted or removed: the loop is map and zip's, in C)
        self._rows.update(zip(map(self.item_key, self._items[start:]), range(start, len(self._items)), strict=True))

    def _rows_changed(self, first_column: int, last_column: int, keys: Iterable[str] | None = None) -> None:
        """After cells of these columns changed (of the items `keys` names, shown or hidden; None: of any): the
        items that now pass or fail the filter come or go, and the rows are sorted again when the sort column
        is among them."""
        if self._filter:
            self._refilter(keys)
        if first_column <= self._sort_column <= last_column:
            self._resort()

    def _refilter(self, keys: Iterable[str] | None) -> None:
        if keys is None:
            shown: Iterable[str] = list(self._rows)
            hidden: Iterable[str] = list(self._hidden)
        else:
            wanted = set(keys)
            shown = [key for key in wanted if key in self._rows]
            hidden = [key for key in wanted if key in self._hidden]
        leaving = [self._rows[key] for key in shown if not self._shows(self._items[self._rows[key]])]
        coming = [self._hidden[key] for key in hidden if self._shows(self._hidden[key])]
        for row in leaving:
            item = self._items[row]
            self._hidden[self.item_key(item)] = item
        self._remove_rows(sorted(leaving, reverse=True))
        for item in coming:
            del self._hidden[self.item_key(item)]
        if coming:
            self._insert_sorted(coming)

    def _resort(self) -> None:
        """Put the rows in sort order again, keeping the selection on the same items (a layout change)."""
        if self._sort_column < 0 or len(self._items) < 2:
            return
        ordered = sorted(self._items, key=self._key_of, reverse=self._descending)  # stable: ties keep their order
        if all(a is b for a, b in zip(ordered, self._items, strict=True)):
            return
        self.layoutAboutToBeChanged.emit()
        before = self.persistentIndexList()
        old_keys = [self.item_key(self._items[index.row()]) for index in before]
        self._items = ordered
        self._rows = {}
        self._reindex()
        self.changePersistentIndexList(before, [self.index(self._rows[key], index.column())
                                                for key, index in zip(old_keys, before, strict=True)])
        self.layoutChanged.emit()

    def _insert_sorted(self, arrivals: list[T]) -> None:
        """New rows where the sort order puts them (at the end when unsorted), a block per place they go."""
        if not arrivals:
            return
        if self._sort_column < 0:
            first = len(self._items)
            self.beginInsertRows(QModelIndex(), first, first + len(arrivals) - 1)
            self._items.extend(arrivals)
            self._reindex(first)
            self.endInsertRows()
            return
        descending = self._descending
        arrivals = sorted(arrivals, key=self._key_of, reverse=descending)
        # where each goes among the rows there now (after equal keys, as a stable sort puts a later arrival); the
        # rows' keys are computed only where the binary search looks
        places = [_place(self._items, self._key_of, self._key_of(item), descending) for item in arrivals]
        end = len(arrivals)
        while end:  # from the last place back, so that the places before stay right
            start = end - 1
            while start and places[start - 1] == places[end - 1]:
                start -= 1
            place = places[end - 1]
            self.beginInsertRows(QModelIndex(), place, place + end - start - 1)
            self._items[place:place] = arrivals[start:end]
            self.endInsertRows()
            end = start
        self._reindex(places[0])

    def _remove_rows(self, rows_descending: list[int]) -> None:
        """Remove rows, each run of adjacent rows in one beginRemoveRows; reindex once at the end."""
        if not rows_descending:
            return
        index = 0
        while index < len(rows_descending):
            last = first = rows_descending[index]
            while index + 1 < len(rows_descending) and rows_descending[index + 1] == first - 1:
                index += 1
                first = rows_descending[index]
            self.beginRemoveRows(QModelIndex(), first, last)
            for row in range(last, first - 1, -1):
                del self._rows[self.item_key(self._items[row])]
            del self._items[first:last + 1]
            self.endRemoveRows()
            index += 1
        self._reindex(rows_descending[-1])


def _place(items: list[T], key_of: Callable[[T], Any], key: Any, descending: bool) -> int:
    """Where `key` goes among `items` (sorted by `key_of` ascending, or descending): after the keys equal to it."""
    low, high = 0, len(items)
    while low < high:
        middle = (low + high) // 2
        if (key > key_of(items[middle])) if descending else (key < key_of(items[middle])):
            high = middle
        else:
            low = middle + 1
    return low
