"""The forced-disconnect notices on their own: grouped by reason, bounded, fading only once they could be seen."""

from __future__ import annotations

import time

from PySide6.QtGui import QStandardItemModel
from PySide6.QtWidgets import QTableView
from pytestqt.qtbot import QtBot

from mqttdesk.gui.models.forced_disconnects import forced_notices, forced_text
from mqttdesk.gui.widgets.notice_stack import NoticeStack
from mqttdesk.store.auth_log_repo import AuthLogEntry


def ended(client_id: str, reason: str, *, kind: str = "DISCONNECT", allowed: bool = False) -> AuthLogEntry:
    return AuthLogEntry(id=0, time=time.time(), kind=kind, allowed=allowed, client_id=client_id, username="fleet",
                        method="bootstrap", address="127.0.0.1", topic=None, reason_code="credential-changed",
                        reason=reason)


def test_notices_group_one_reason_and_skip_ends_nobody_forced() -> None:
    suspended = "disconnected: bootstrap credential 'fleet' was suspended (by admin)"
    entries = [ended(f"plug-{n}", suspended) for n in range(5)]
    entries.append(ended("lamp-1", "kicked by admin", kind="KICK"))
    entries.append(ended("left", "the client disconnected", allowed=True))  # not forced: no notice
    texts = [text for text, _tip in forced_notices(entries)]
    assert texts == [f"plug-0, plug-1, plug-2 and 2 more {suspended}", "lamp-1 kicked by admin"]
    assert [text for text, _ in forced_notices(entries[:2])] == [f"plug-0 and plug-1 {suspended}"]
    assert forced_text(entries[0]).endswith(" bootstrap credential 'fleet' was suspended (by admin)")
    assert forced_text(entries[0], with_client=True).endswith(" plug-0: bootstrap credential 'fleet' was suspended "
                                                              "(by admin)")
    assert forced_text(None) == "—"


def test_stack_is_bounded_waits_until_seen_and_fades(qtbot: QtBot) -> None:
    table = QTableView()
    table.setModel(QStandardItemModel(3, 3))
    qtbot.addWidget(table)
    stack = NoticeStack(table, seconds=0.05, limit=2)
    stack.show_notice("one")
    stack.show_notice("two")
    stack.show_notice("three")
    assert stack.texts() == ["two", "three"]  # the oldest made room
    qtbot.wait(200)
    assert stack.texts() == ["two", "three"]  # the table was never shown: nobody has seen them yet

    table.resize(600, 300)
    table.show()
    qtbot.waitExposed(table)
    assert stack.isVisible()
    qtbot.waitUntil(lambda: stack.geometry().right() <= table.viewport().geometry().right(), timeout=1000)
    qtbot.waitUntil(lambda: stack.texts() == [], timeout=3000)
    assert not stack.isVisible()
