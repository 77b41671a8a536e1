"""The Auth log tab against the real broker: refusals appear live, filters work in SQL and live, the details pane
explains the selected row, and a suggested fix applied from it lets the next attempt through."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable
from pathlib import Path

from PySide6.QtWidgets import QAbstractButton
from pytestqt.qtbot import QtBot

from mqttdesk.broker.service import BrokerService
from mqttdesk.core.acl import Permission
from mqttdesk.core.decision import Decision, Kind
from mqttdesk.core.reasons import Reason, ReasonCode
from mqttdesk.core.states import CredentialState, StateAction
from mqttdesk.gui.auth_log_tab import AuthLogTab
from mqttdesk.gui.explainer_dialog import ExplainerDialog
from mqttdesk.gui.main_window import MainWindow
from mqttdesk.gui.models.auth_log_model import RESULT
from mqttdesk.gui.timeline_dialog import TimelineDialog
from mqttdesk.gui.widgets.confirm import ConfirmationBox
from mqttdesk.store.auth_log_repo import AuthLogEntry
from mqttdesk.store.db import Store
from tests.gui.conftest import FAST_HASH, ClientFactory
from tests.gui.helpers import click, tab_of


def plain(rich: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", rich))


def auth_tab(window: MainWindow) -> AuthLogTab:
    return tab_of(window, "Auth log", AuthLogTab)


def find(tab: AuthLogTab, predicate: Callable[[AuthLogEntry], bool]) -> AuthLogEntry | None:
    return next((entry for entry in tab.model.entries() if predicate(entry)), None)


def wait_for(qtbot: QtBot, tab: AuthLogTab, predicate: Callable[[AuthLogEntry], bool]) -> AuthLogEntry:
    qtbot.waitUntil(lambda: find(tab, predicate) is not None, timeout=5000)
    found = find(tab, predicate)
    assert found is not None
    return found


def confirm(qtbot: QtBot, tab: AuthLogTab) -> None:
    box = tab.details.fix_panel.applier.dialog
    assert isinstance(box, ConfirmationBox)
    click(qtbot, box.confirm_button)


def test_a_refused_connect_appears_explained_and_filterable(qtbot: QtBot, window: MainWindow, store: Store,
                                                            connect: ClientFactory) -> None:
    store.users.add("lamp", FAST_HASH("pw"))
    tab = auth_tab(window)
    connect("lamp-1", "lamp", "typo-s3cret")
    refused = wait_for(qtbot, tab, lambda e: e.reason_code == "bad-password")
    assert tab.model.index(tab.model.row_of(refused.id) or 0, RESULT).data() == "✗ refused"
    assert "typo-s3cret" not in json.dumps(refused.to_json())  # the password is never in an entry

    tab.select_entry(refused.id)
    details = tab.details
    text = details.text.toPlainText()
    assert "Why: wrong password for user 'lamp'" in text
    assert text.count(" · MQTT 3.1.1") == 1  # in the headline: the version the test client speaks
    assert "CONNACK 4 (bad username or password)" in text
    path = plain(details.text.toHtml())
    assert "username 'lamp' → user 'lamp' (inactive)" in path
    assert "password ✗" in path
    assert "✗ refused — wrong password for user 'lamp'" in path
    assert not details.fix_panel.isHidden()
    assert details.fix_panel.button.text() == "Set a new password for 'lamp'…"
    tests = [button for button in tab.findChildren(QAbstractButton) if button.text() == "Test access…"]
    assert tests == [tab.test_button]  # one Test access… on the tab, prefilled from the selected row
    click(qtbot, tab.test_button)  # the same request in the explainer: everything but the password filled in
    explainer = tab.dialog
    assert isinstance(explainer, ExplainerDialog)
    assert (explainer.username.text(), explainer.client_id.text(), explainer.password.text()) == ("lamp", "lamp-1", "")
    explainer.close()
    click(qtbot, details.timeline_button)
    timeline = tab.dialog
    assert isinstance(timeline, TimelineDialog)
    assert timeline.client_id == "lamp-1"
    assert timeline.model.index(0, 1).data() == "✗ connect refused"
    timeline.close()

    connect("lamp-2", "lamp", "pw")
    wait_for(qtbot, tab, lambda e: e.client_id == "lamp-2" and e.allowed)
    tab.result_combo.setCurrentIndex(1)  # refused only: applied in SQL
    assert tab.model.rowCount() >= 1
    assert all(not e.allowed for e in tab.model.entries())
    tab.username_edit.setText("nobody")
    tab.apply_filter()  # what the debounce timer does once typing pauses
    assert tab.model.rowCount() == 0
    tab.username_edit.setText("LAM")
    tab.apply_filter()
    assert [e.reason_code for e in tab.model.entries()] == ["bad-password"]

    connect("lamp-3", "lamp", "pw")  # live rows go through the same filter: an allowed connect stays out
    connect("lamp-4", "lamp", "nope")
    wait_for(qtbot, tab, lambda e: e.client_id == "lamp-4")
    assert find(tab, lambda e: e.client_id == "lamp-3") is None


def test_activating_a_suspended_user_from_the_details_lets_it_in(qtbot: QtBot, window: MainWindow, store: Store,
                                                                 service: BrokerService,
                                                                 connect: ClientFactory) -> None:
    store.users.add("lamp", FAST_HASH("pw"))
    store.users.apply("lamp", StateAction.SUSPEND)
    tab = auth_tab(window)
    connect("lamp-1", "lamp", "pw")
    refused = wait_for(qtbot, tab, lambda e: e.reason_code == "suspended")
    tab.select_entry(refused.id)
    panel = tab.details.fix_panel
    assert panel.button.text() == "Activate user 'lamp'…"
    assert "mqttdesk user activate lamp" in panel.command.text()

    click(qtbot, panel.button)
    assert store.users.get("lamp").state is CredentialState.SUSPENDED  # nothing changes before the confirmation
    confirm(qtbot, tab)
    assert store.users.get("lamp").state is CredentialState.INACTIVE  # never used: back to inactive, which admits
    assert "Done: user 'lamp' is no longer suspended" in panel.result.text()

    connect("lamp-2", "lamp", "pw")
    qtbot.waitUntil(lambda: service.registry.get("lamp-2") is not None, timeout=5000)
    tab.table.clearSelection()
    tab.select_entry(refused.id)  # reselecting the old row: nothing refuses it any more, so no stale button
    assert panel.isHidden()
    assert "No suggested fix" in tab.details.no_fix.text()
    wait_for(qtbot, tab, lambda e: e.client_id == "lamp-2" and e.allowed)


def test_allowing_a_topic_in_a_role_lets_the_next_publish_through(qtbot: QtBot, window: MainWindow, store: Store,
                                                                  connect: ClientFactory) -> None:
    store.roles.add("lamps")
    store.roles.allow("lamps", "home/#", Permission.READWRITE)
    store.users.add("lamp", FAST_HASH("pw"), ("lamps",))
    tab = auth_tab(window)
    client = connect("lamp-1", "lamp", "pw")
    wait_for(qtbot, tab, lambda e: e.client_id == "lamp-1" and e.kind == "CONNECT" and e.allowed)
    client.publish("garden/x", "on")
    denied = wait_for(qtbot, tab, lambda e: e.kind == "PUBLISH" and not e.allowed)
    assert denied.reason_code == "acl-no-rule"
    tab.select_entry(denied.id)
    panel = tab.details.fix_panel
    assert panel.button.text() == "Allow write on 'garden/x' in role 'lamps'…"
    click(qtbot, panel.button)
    confirm(qtbot, tab)
    assert "role 'lamps' now allows write on 'garden/x'" in panel.result.text()

    client.publish("garden/x", "on")
    wait_for(qtbot, tab, lambda e: e.kind == "PUBLISH" and e.allowed and e.topic == "garden/x")


def _record(service: BrokerService, client_id: str, allowed: bool = False) -> None:
    code = ReasonCode.AUTHENTICATED if allowed else ReasonCode.BAD_PASSWORD
    service.recorder.record(Decision(Kind.CONNECT, allowed, Reason(code, "test"), client_id, username="u"))


def test_pause_counts_new_rows_and_resume_adds_them(qtbot: QtBot, window: MainWindow, service: BrokerService) -> None:
    tab = auth_tab(window)
    click(qtbot, tab.pause_button)
    for n in range(3):
        _record(service, f"paused-{n}")
    service.recorder.flush()
    assert tab.model.rowCount() == 0
    assert tab.new_label.text() == "3 new"
    assert tab.pause_button.text() == "Resume"
    click(qtbot, tab.pause_button)
    assert [e.client_id for e in tab.model.entries()] == ["paused-2", "paused-1", "paused-0"]
    assert tab.new_label.text() == ""


def test_load_older_pages_from_the_store_and_export_writes_the_view(qtbot: QtBot, window: MainWindow,
                                                                    service: BrokerService, tmp_path: Path) -> None:
    for n in range(12):
        _record(service, f"old-{n}", allowed=n % 2 == 0)
    service.recorder.flush()
    tab = auth_tab(window)
    tab.model.max_rows = 4
    tab.apply_filter()
    assert [e.client_id for e in tab.model.entries()] == ["old-11", "old-10", "old-9", "old-8"]
    assert tab.load_older() == 8
    assert tab.model.rowCount() == 4  # bounded: the newest rows went, live rows wait for Resume
    assert [e.client_id for e in tab.model.entries()] == ["old-7", "old-6", "old-5", "old-4"]
    assert tab.paused
    tab.set_paused(False)
    assert [e.client_id for e in tab.model.entries()][0] == "old-11"

    tab.model.max_rows = 100
    tab.result_combo.setCurrentIndex(1)
    assert tab.export_to(tmp_path / "refused.json") == 6
    exported = json.loads((tmp_path / "refused.json").read_text(encoding="utf-8"))
    assert {item["client_id"] for item in exported} == {f"old-{n}" for n in range(1, 12, 2)}
    assert tab.export_to(tmp_path / "refused.csv") == 6
    assert len((tmp_path / "refused.csv").read_text(encoding="utf-8").splitlines()) == 7
