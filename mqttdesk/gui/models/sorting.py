"""Sorting and filtering for the tables: each model returns a sortable value under `SORT_ROLE`.

Credential models also return the row's tenant under `TENANT_ROLE` ("" for none), so the filter box understands
"@acme" as "the credentials of tenant acme" (a prefix, so it narrows while typing; "@" alone: any tenant) and plain
text as part of the name or the tenant.
"""

from __future__ import annotations

from PySide6.QtCore import QAbstractItemModel, QModelIndex, QObject, QPersistentModelIndex, QSortFilterProxyModel, Qt

SORT_ROLE = Qt.ItemDataRole.UserRole + 1
TENANT_ROLE = Qt.ItemDataRole.UserRole + 2


class SortFilterProxy(QSortFilterProxyModel):
    """Qt's proxy, plus the tenant rules above for models that answer `TENANT_ROLE`."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._text = ""

    def setFilterFixedString(self, pattern: str) -> None:  # noqa: N802
        self._text = pattern.strip().lower()
        super().setFilterFixedString(pattern)

    def filterAcceptsRow(self, source_row: int, source_parent: QModelIndex | QPersistentModelIndex) -> bool:  # noqa: N802
        model = self.sourceModel()
        tenant = model.index(source_row, 0, source_parent).data(TENANT_ROLE) if self._text else None
        if not isinstance(tenant, str):  # no filter, or a model without tenants
            return super().filterAcceptsRow(source_row, source_parent)
        tenant = tenant.lower()
        if self._text.startswith("@"):
            return bool(tenant) and tenant.startswith(self._text[1:])
        return self._text in tenant or super().filterAcceptsRow(source_row, source_parent)


def sorted_proxy(model: QAbstractItemModel, parent: QObject, *, filter_column: int = 0) -> QSortFilterProxyModel:
    """A proxy that sorts by `SORT_ROLE` and filters (case-insensitively) on one column; it re-sorts on changes."""
    proxy = SortFilterProxy(parent)
    proxy.setSourceModel(model)
    proxy.setSortRole(SORT_ROLE)
    proxy.setDynamicSortFilter(True)
    proxy.setFilterKeyColumn(filter_column)
    proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
    proxy.setSortCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
    return proxy
