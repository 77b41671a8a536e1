"""Folded and clipped Auth log entries in the window: "×37" with the time range, rows updated in place as the count
grows, counters that count every refusal once, and clipped values that say how long they really were."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime

from PySide6.QtCore import Qt
from pytestqt.modeltest import ModelTester
from pytestqt.qtbot import QtBot

from mqttdesk.core.clip import clip
from mqttdesk.gui.auth_details import entry_html, fix_for
from mqttdesk.gui.auth_log_tab import AuthLogTab
from mqttdesk.gui.auth_status import AuthCounters
from mqttdesk.gui.main_window import MainWindow
from mqttdesk.gui.models.auth_log_model import RESULT, TIME, USERNAME, AuthLogTableModel, format_entry_time
from mqttdesk.gui.models.timeline_model import EVENT, TimelineModel
from mqttdesk.store.auth_log_repo import AuthLogEntry
from mqttdesk.store.db import Store
from tests.gui.helpers import tab_of
from tests.integration.raw_mqtt import RawClient

TIP = Qt.ItemDataRole.ToolTipRole
NOON = datetime.now().replace(hour=12, minute=0, second=0, microsecond=0).timestamp()


def refusal(entry_id: int, *, count: int = 1, first: float | None = None, at: float = NOON,
            username: str = "lamp") -> AuthLogEntry:
    return AuthLogEntry(entry_id, at, "CONNECT", False, "lamp-1", username, None, "127.0.0.1", None,
                        "unknown-user", f"no user or bootstrap credential named '{username}'", (), count, first)


def test_a_folded_refusal_shows_its_count_and_range_and_updates_in_place(qtmodeltester: ModelTester) -> None:
    model = AuthLogTableModel()
    qtmodeltester.check(model)
    changed: list[int] = []
    model.dataChanged.connect(lambda top, _bottom, _roles: changed.append(top.row()))
    model.replace([refusal(1), refusal(2)])
    model.add_newer([refusal(3), replace(refusal(2), count=5, first_time=NOON, time=NOON + 20)])
    assert [e.id for e in model.entries()] == [3, 2, 1]  # no second row for entry 2
    assert len(changed) == 1  # one dataChanged for the row, before the new one went in above it
    assert model.index(1, RESULT).data() == "✗ refused ×5"
    assert model.index(1, TIME).data() == f"{format_entry_time(NOON)}–{format_entry_time(NOON + 20)}"
    assert "5 times from" in model.index(1, TIME).data(TIP)  # the tooltip names the range
    model.add_newer([replace(refusal(2), count=6, first_time=NOON, time=NOON + 21),
                     replace(refusal(2), count=7, first_time=NOON, time=NOON + 22)])
    assert [e.id for e in model.entries()] == [3, 2, 1]
    assert model.index(1, RESULT).data() == "✗ refused ×7"


def test_clipped_values_say_how_long_they_were_and_get_no_fix() -> None:
    model = AuthLogTableModel()
    entry = refusal(1, username=clip("u" * 65_535), count=3, first=NOON - 5)
    model.replace([entry])
    assert model.index(0, USERNAME).data() == "uuuuuuuu… (65,535 chars)"  # a narrow cell: the length in sight
    assert "clipped: the client sent 65,535 characters; the first 200 are kept" in model.index(0, USERNAME).data(TIP)
    details = entry_html(entry)
    assert "overlong username (65,535 characters)" in details
    assert "3 times from" in details
    assert fix_for(entry, context=None) is None  # type: ignore[arg-type]  # never "add user 'uuu…'"


def test_timeline_and_status_counters_count_a_fold_once_per_refusal(qtbot: QtBot, store: Store) -> None:
    timeline = TimelineModel()
    timeline.replace([refusal(1)])
    timeline.add_newer([replace(refusal(1), count=4, first_time=NOON)])
    assert timeline.rowCount() == 1
    assert timeline.index(0, EVENT).data() == "✗ connect refused ×4"
    assert timeline.counters.refusals == 4
    store.auth_log.append([refusal(0, count=3, first=NOON - 10, at=NOON - 5)])
    counters = AuthCounters(store, clock=lambda: NOON)
    assert counters.refused_last_minute == 3
    [stored] = store.auth_log.recent(1)
    counters.on_entries([replace(stored, count=5, time=NOON)])  # two more, then the same state again
    counters.on_entries([replace(stored, count=5, time=NOON)])
    assert counters.refused_last_minute == 5


def test_repeated_refusals_with_a_64_kb_username_are_one_row_in_the_window(
        qtbot: QtBot, window: MainWindow, port: int) -> None:
    tab = tab_of(window, "Auth log", AuthLogTab)
    settings = window.service.store.settings  # folding is the point, not the login guard: loopback exempt
    settings.set_guard(replace(settings.guard(), exempt_loopback=True))

    def refused_five_times() -> list[int]:  # in a thread: the broker runs on this (the GUI) thread's loop
        codes = []
        for _ in range(5):
            with RawClient(port) as raw:
                codes.append(raw.connect("dev-1", username="u" * 65_535, password=b"x").return_code)
        return codes

    with ThreadPoolExecutor(1) as pool:
        done = pool.submit(refused_five_times)
        qtbot.waitUntil(done.done, timeout=10_000)
    assert done.result() == [4] * 5
    qtbot.waitUntil(lambda: any(e.client_id == "dev-1" and e.count == 5 for e in tab.model.entries()), timeout=5000)
    rows = [e for e in tab.model.entries() if e.client_id == "dev-1"]
    assert len(rows) == 1
    row = tab.model.row_of(rows[0].id)
    assert row is not None
    assert tab.model.index(row, RESULT).data() == "✗ refused ×5"
    assert tab.model.index(row, USERNAME).data() == "uuuuuuuu… (65,535 chars)"
    assert rows[0].username == clip("u" * 65_535)
    tab.select_entry(rows[0].id)
    text = tab.details.text.toPlainText()
    assert "5 times from" in text
    assert "the first 200 characters are kept" in text
    assert len(text) < 5000
