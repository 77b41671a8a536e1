"""`KeyedTableModel` sorting and filtering its own rows (no proxy): whatever happens to the records, the rows shown
are exactly the records the filter takes, in the order of the sort column, and Qt's own model tester finds every
insert, removal, move and change announced consistently."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PySide6.QtCore import Qt, qInstallMessageHandler
from PySide6.QtTest import QAbstractItemModelTester
from pytestqt.qtbot import QtBot

from mqttdesk.gui.models.keyed_model import KeyedTableModel


@dataclass(frozen=True)
class Thing:
    name: str
    colour: str
    size: int


class Things(KeyedTableModel[Thing]):
    HEADERS = ("Name", "Colour", "Size")
    FILTER_COLUMN = -1

    @staticmethod
    def key_of(record: Thing) -> str:
        return record.name

    def _display(self, record: Thing, column: int) -> str:
        return (record.name, record.colour, str(record.size))[column]

    def _sort_key(self, record: Thing, column: int) -> Any:
        return record.size if column == 2 else self._display(record, column).lower()

    def data(self, index: Any, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        record = self._record_of(index)
        if record is None or role != Qt.ItemDataRole.DisplayRole:
            return None
        return self._display(record, index.column())


NAMES = [f"n{i}" for i in range(12)]
COLOURS = ["red", "green", "blue", "Redwood"]
things = st.builds(Thing, st.sampled_from(NAMES), st.sampled_from(COLOURS), st.integers(0, 5))
operations = st.one_of(
    st.tuples(st.just("put"), things),
    st.tuples(st.just("put_many"), st.lists(things, max_size=6)),
    st.tuples(st.just("remove"), st.sampled_from(NAMES)),
    st.tuples(st.just("recolour"), st.lists(st.sampled_from(NAMES), max_size=4), st.sampled_from(COLOURS)),
    st.tuples(st.just("filter"), st.sampled_from(["", "red", "n1", "5", "zzz"])),
    st.tuples(st.just("sort"), st.integers(-1, 2), st.booleans()),
)


def _check(model: Things, expected: dict[str, Thing], text: str, column: int, descending: bool) -> None:
    shown = [model.record_at(row) for row in range(model.rowCount())]
    wanted = {name for name, thing in expected.items()
              if not text or any(text in cell.lower() for cell in (thing.name, thing.colour, str(thing.size)))}
    assert {thing.name for thing in shown} == wanted
    assert len(shown) == len(wanted)  # no key twice
    assert sorted(model.records(), key=lambda thing: thing.name) == sorted(expected.values(), key=lambda t: t.name)
    for name, thing in expected.items():
        assert model.find(name) == thing
        assert model.row_of(name) == (next(row for row, t in enumerate(shown) if t.name == name)
                                      if name in wanted else None)
    if column >= 0:
        keys = [model._sort_key(thing, column) for thing in shown]
        assert keys == sorted(keys, reverse=descending)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(things, max_size=8), st.lists(operations, max_size=25))
def test_rows_are_the_filtered_records_in_sort_order(qtbot: QtBot, start: list[Thing], steps: list[Any]) -> None:
    complaints: list[str] = []
    previous = qInstallMessageHandler(lambda _kind, _context, message: complaints.append(message))
    try:
        _run(start, steps)
    finally:
        qInstallMessageHandler(previous)
    assert not [message for message in complaints if "FAIL" in message]


def _run(start: list[Thing], steps: list[Any]) -> None:
    model = Things()
    tester = QAbstractItemModelTester(model, QAbstractItemModelTester.FailureReportingMode.Warning)
    expected = {thing.name: thing for thing in start}
    model._reset_records(list(expected.values()))
    text, column, descending = "", -1, False
    for step in steps:
        if step[0] == "put":
            model._put(step[1].name, step[1])
            expected[step[1].name] = step[1]
        elif step[0] == "put_many":
            batch = {thing.name: thing for thing in step[1]}
            model._put_many(dict(batch))
            expected.update(batch)
        elif step[0] == "remove":
            model._put(step[1], None)
            expected.pop(step[1], None)
        elif step[0] == "recolour":  # changed in the store, announced by key, in one batch
            with model.batched_changes():
                for name in step[1]:
                    if name in expected:
                        expected[name] = replace(expected[name], colour=step[2])
                        model._put(name, expected[name])
        elif step[0] == "filter":
            text = step[1]
            model.set_filter(text)
        else:
            column, descending = step[1], step[2]
            if column >= 0:
                model.sort(column, Qt.SortOrder.DescendingOrder if descending else Qt.SortOrder.AscendingOrder)
        _check(model, expected, text, column, descending)
    del tester


def test_a_selected_row_stays_selected_when_a_change_moves_it(qtbot: QtBot) -> None:
    from mqttdesk.gui.widgets.tables import make_table

    model = Things()
    model._reset_records([Thing("a", "red", 1), Thing("b", "red", 2), Thing("c", "red", 3)])
    table = make_table(model, sortable=True)
    qtbot.addWidget(table)
    table.sortByColumn(2, Qt.SortOrder.AscendingOrder)
    table.selectRow(model.row_of("a"))
    model._put("a", Thing("a", "red", 9))  # now last
    assert model.row_of("a") == 2
    assert [index.row() for index in table.selectionModel().selectedRows()] == [2]


def test_a_record_the_filter_hides_comes_back_when_what_it_shows_changes(qtbot: QtBot) -> None:
    model = Things()
    model._reset_records([Thing("a", "red", 1), Thing("b", "blue", 2)])
    model.set_filter("red")
    assert (model.rowCount(), model.item_total()) == (1, 2)
    model._put("b", Thing("b", "red", 2))
    assert [model.record_at(row).name for row in range(model.rowCount())] == ["a", "b"]
    model._put("a", Thing("a", "green", 1))
    assert [model.record_at(row).name for row in range(model.rowCount())] == ["b"]
    assert model.find("a") == Thing("a", "green", 1)
    model.set_filter("")
    assert model.rowCount() == 2
