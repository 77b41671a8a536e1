"""One look for every table: whole-row selection, alternating rows, compact rows, no in-place editing."""

from __future__ import annotations

from collections.abc import Mapping

from PySide6.QtCore import QAbstractItemModel, QSortFilterProxyModel
from PySide6.QtWidgets import QAbstractItemView, QTableView

_HEADER_PADDING = 28  # room for the sort indicator


def make_table(model: QAbstractItemModel, *, sortable: bool = False) -> QTableView:
    table = QTableView()
    table.setModel(model)
    table.setSortingEnabled(sortable)
    table.setAlternatingRowColors(True)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setWordWrap(False)
    table.verticalHeader().setVisible(False)
    table.verticalHeader().setDefaultSectionSize(table.fontMetrics().height() + 10)
    return table


def set_column_widths(table: QTableView, widths: Mapping[int, int]) -> None:
    """Set widths, but never narrower than the column's header text (no cut-off headers)."""
    header = table.horizontalHeader()
    metrics = header.fontMetrics()
    model = table.model()
    for column, width in widths.items():
        title = str(model.headerData(column, header.orientation()) or "")
        table.setColumnWidth(column, max(width, metrics.horizontalAdvance(title) + _HEADER_PADDING))


def selected_row(table: QTableView) -> int | None:
    """The selected row (the tables select one whole row), or None."""
    rows = table.selectionModel().selectedRows()
    return rows[0].row() if rows else None


def select_row(table: QTableView, row: int | None) -> None:
    """Select `row`; None selects nothing new."""
    if row is not None:
        table.selectRow(row)


def selected_source_row(table: QTableView, proxy: QSortFilterProxyModel) -> int | None:
    """The selected row as the source model numbers it (`table` shows it through `proxy`), or None."""
    rows = table.selectionModel().selectedRows()
    return proxy.mapToSource(rows[0]).row() if rows else None


def select_source_row(table: QTableView, proxy: QSortFilterProxyModel, row: int | None) -> None:
    """Select the source model's `row` where `proxy` shows it; None selects nothing new."""
    if row is not None:
        select_row(table, proxy.mapFromSource(proxy.sourceModel().index(row, 0)).row())
