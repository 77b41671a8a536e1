"""Sorting and filtering for the tables shown through a proxy: each model returns a sortable value under
`SORT_ROLE`. (The credential tables and the Clients table sort and filter themselves: see `sorted_rows`.)"""

from __future__ import annotations

from PySide6.QtCore import QAbstractItemModel, QObject, QSortFilterProxyModel, Qt

SORT_ROLE = Qt.ItemDataRole.UserRole + 1


def sorted_proxy(model: QAbstractItemModel, parent: QObject, *, filter_column: int = 0) -> QSortFilterProxyModel:
    """A proxy that sorts by `SORT_ROLE` and filters (case-insensitively) on one column; it re-sorts on changes."""
    proxy = QSortFilterProxyModel(parent)
    proxy.setSourceModel(model)
    proxy.setSortRole(SORT_ROLE)
    proxy.setDynamicSortFilter(True)
    proxy.setFilterKeyColumn(filter_column)
    proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
    proxy.setSortCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
    return proxy
