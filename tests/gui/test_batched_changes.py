"""`KeyedTableModel.batched_changes`: many changed rows are one `dataChanged` over their span (a storm's session
events were one notice per row, each making every view look at its rows)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QModelIndex
from pytestqt.qtbot import QtBot

from mqttdesk.gui.models.keyed_model import KeyedTableModel


class _Names(KeyedTableModel[str]):
    HEADERS = ("Name", "State", "Seen")

    @staticmethod
    def key_of(record: str) -> str:
        return record

    def cell(self, record: str, column: int) -> Any:
        return record


def test_changes_inside_a_batch_are_one_notice_over_their_span(qtbot: QtBot) -> None:
    model = _Names()
    model._reset_records([f"d{n}" for n in range(1000)])
    notices: list[tuple[int, int, int, int]] = []
    model.dataChanged.connect(lambda top, bottom, *_: notices.append(
        (top.row(), bottom.row(), top.column(), bottom.column())))
    with model.batched_changes():
        for n in range(10, 900, 3):
            model._key_changed(f"d{n}", 1, 2)
        model._put("d999", None)  # a row removed meanwhile: the span stays inside the table
    assert notices == [(10, 898, 1, 2)]
    model._key_changed("d5")  # outside a batch: at once, as before
    assert notices[-1] == (5, 5, 0, 2)
    assert model.rowCount(QModelIndex()) == 999
