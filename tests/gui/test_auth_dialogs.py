"""Test access (the explainer) and the client timeline, against the real service: the dry run explains without
changing anything, the timeline follows a client from the Clients tab, the status bar counts refusals."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from mqttdesk.broker.service import BrokerService
from mqttdesk.core.acl import Permission
from mqttdesk.core.decision import Kind
from mqttdesk.core.states import CredentialState, StateAction
from mqttdesk.gui.auth_log_tab import AuthLogTab
from mqttdesk.gui.clients_tab import ClientsTab
from mqttdesk.gui.explainer_dialog import ExplainerDialog
from mqttdesk.gui.main_window import MainWindow
from mqttdesk.gui.timeline_dialog import TimelineDialog
from mqttdesk.gui.widgets.confirm import ConfirmationBox
from mqttdesk.store.db import Store
from tests.gui.conftest import FAST_HASH, ClientFactory
from tests.gui.helpers import click, select_row


def explainer(window: MainWindow) -> ExplainerDialog:
    tab = window.tab("Auth log")
    assert isinstance(tab, AuthLogTab)
    return tab.open_explainer()


def run(qtbot: QtBot, dialog: ExplainerDialog) -> str:
    task = dialog.run()
    assert task is not None
    qtbot.waitUntil(task.done, timeout=5000)
    return dialog.text.toPlainText()


def test_the_explainer_shows_the_path_and_changes_nothing(qtbot: QtBot, window: MainWindow, store: Store) -> None:
    store.roles.add("lamps")
    store.roles.allow("lamps", "home/%u/#", Permission.READWRITE)
    store.users.add("lamp", FAST_HASH("pw"), ("lamps",))
    dialog = explainer(window)
    dialog.prefill("lamp", "lamp-1", "home/lamp/light", Kind.PUBLISH)
    dialog.password.setText("pw")
    text = run(qtbot, dialog)
    assert "✓ Allowed — may connect and publish to 'home/lamp/light'" in text
    assert "CONNECT as 'lamp' with clientId 'lamp-1'" in text
    assert "password ✓" in text
    assert "rule: role 'lamps' allows readwrite on 'home/%u/#'" in text
    assert dialog.fix_panel.isHidden()

    dialog.password.setText("guess")
    text = run(qtbot, dialog)
    assert "✗ Refused — may not connect" in text
    assert "The client would be told: CONNACK 4 (bad username or password)." in text
    assert "Why: wrong password for user 'lamp'" in text
    assert dialog.fix_panel.button.text() == "Set a new password for 'lamp'…"

    dialog.password.setText("pw")
    dialog.topic.setText("garden/x")
    dialog.action.setCurrentIndex(1)
    text = run(qtbot, dialog)
    assert "✗ Refused — may connect, but may not subscribe to 'garden/x'" in text
    assert "SUBSCRIBE 'garden/x'" in text
    assert "SUBACK 0x80 (failure)" in text
    assert dialog.fix_panel.button.text() == "Allow read on 'garden/x' in role 'lamps'…"

    assert store.users.get("lamp").state is CredentialState.INACTIVE  # a dry run: the first use did not happen
    assert store.auth_log.count() == 0  # and nothing was logged
    dialog.client_id.clear()
    assert dialog.run() is None
    assert "clientId" in dialog.client_id_error.message


def test_the_explainer_decides_on_the_event_loop_thread(
    qtbot: QtBot, window: MainWindow, store: Store, service: BrokerService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pipeline's caches belong to the loop: only the password hash may leave it, never the decision itself."""
    store.roles.add("lamps")
    store.roles.allow("lamps", "home/#", Permission.READWRITE)
    store.users.add("lamp", FAST_HASH("pw"), ("lamps",))
    pipeline = service.pipeline
    threads: list[threading.Thread] = []
    decide_topic = pipeline.decide_topic

    def recording_decide_topic(kind: Kind, grant: object, topic: str) -> object:
        threads.append(threading.current_thread())
        return decide_topic(kind, grant, topic)  # type: ignore[arg-type]

    def no_blocking_explain(*args: object, **kwargs: object) -> None:
        raise AssertionError("the explainer must not decide in a worker thread")

    monkeypatch.setattr(pipeline, "decide_topic", recording_decide_topic)
    monkeypatch.setattr(pipeline, "explain_connect", no_blocking_explain)
    dialog = explainer(window)
    dialog.prefill("lamp", "lamp-1", "home/kitchen", Kind.PUBLISH)
    dialog.password.setText("pw")
    assert "✓ Allowed" in run(qtbot, dialog)
    assert threads == [threading.main_thread()]


def test_a_fix_applied_in_the_explainer_is_tested_again(qtbot: QtBot, window: MainWindow, store: Store) -> None:
    store.users.add("sleepy", FAST_HASH("pw"))
    store.users.apply("sleepy", StateAction.SUSPEND)
    dialog = explainer(window)
    dialog.prefill("sleepy", "s-1")
    dialog.password.setText("pw")
    assert "is suspended since" in run(qtbot, dialog)
    click(qtbot, dialog.fix_panel.button)
    box = dialog.fix_panel.applier.dialog
    assert isinstance(box, ConfirmationBox)
    click(qtbot, box.confirm_button)
    assert dialog.done_label.text().count("Tested again below")
    qtbot.waitUntil(lambda: "✓ Allowed" in dialog.text.toPlainText(), timeout=5000)


def test_the_timeline_follows_a_client_from_the_clients_tab(qtbot: QtBot, window: MainWindow, store: Store,
                                                            service: BrokerService, connect: ClientFactory) -> None:
    store.users.add("lamp", FAST_HASH("pw"))
    connect("lamp-1", "lamp", "nope")
    client = connect("lamp-1b", "lamp", "pw")
    qtbot.waitUntil(lambda: service.registry.get("lamp-1b") is not None, timeout=5000)
    clients = window.tab("Clients")
    assert isinstance(clients, ClientsTab)
    window.tabs.setCurrentWidget(clients)
    qtbot.waitUntil(lambda: clients.model.row_of("lamp-1b") is not None, timeout=5000)
    select_row(clients.table, "lamp-1b")
    click(qtbot, clients.timeline_button)
    dialog = clients.timeline
    assert isinstance(dialog, TimelineDialog)
    qtbot.waitUntil(lambda: dialog.model.rowCount() >= 1, timeout=5000)
    assert dialog.model.index(0, 1).data() == "✓ connected"
    assert "connected</span> as 'lamp' by password from 127.0.0.1" in dialog.presence.text()

    client.subscribe("anything/#")
    client.disconnect()
    qtbot.waitUntil(lambda: dialog.model.index(0, 1).data() == "• disconnected: normal", timeout=5000)
    events = [dialog.model.index(row, 1).data() for row in range(dialog.model.rowCount())]
    assert events == ["• disconnected: normal", "✗ subscription denied", "✓ connected"]
    assert "lamp-1" not in [dialog.model.entry_at(row).client_id for row in range(dialog.model.rowCount())]
    assert dialog.model.counters.describe() == ("1 connect · 0 refused connects · 0 subscriptions granted · "
                                                "1 denied topic · 1 disconnect (1 normal)")
    assert "subscriptions granted" in dialog.counters.text()
    qtbot.waitUntil(lambda: "is not connected now" in dialog.presence.text(), timeout=5000)  # (sessions: batched)
    dialog.close()


def test_the_status_bar_counts_refusals_and_opens_them(qtbot: QtBot, window: MainWindow, store: Store,
                                                       connect: ClientFactory) -> None:
    status = window.auth_debugging.status
    assert status.refused_button.text() == "0 refused in the last minute"
    connect("ghost-1", "ghost", "pw")
    qtbot.waitUntil(lambda: status.refused_button.text() == "1 refused in the last minute", timeout=5000)
    assert status.forced_label.text() == "0 forced disconnects today"
    notifier = window.auth_debugging.notifier
    assert notifier.sent
    assert notifier.sent[0][0] == "1 refused"
    assert "no user or bootstrap credential named 'ghost'" in notifier.sent[0][1]

    click(qtbot, status.refused_button)
    tab = window.tab("Auth log")
    assert isinstance(tab, AuthLogTab)
    assert window.tabs.currentWidget() is tab
    assert tab.log_filter.allowed is False
    assert [e.reason_code for e in tab.model.entries()] == ["unknown-user"]

    window.auth_debugging.notify_toggle.setChecked(False)
    assert store.settings.get("gui.notify_on_refusals") is False
    connect("ghost-2", "ghost", "pw")
    qtbot.waitUntil(lambda: status.refused_button.text() == "2 refused in the last minute", timeout=5000)
    assert len(notifier.sent) == 1


def test_the_explainer_takes_a_client_certificate_file(qtbot: QtBot, window: MainWindow, store: Store,
                                                       tmp_path: Path) -> None:
    from mqttdesk.core.model import AuthMode
    from mqttdesk.pki.ca import create_ca
    from mqttdesk.pki.certificates import certificate_pem
    from mqttdesk.pki.issue import issue_client_certificate

    store.roles.add("plugs")
    store.roles.allow("plugs", "plugs/%u/#", Permission.READWRITE)
    store.users.add("plug-1", FAST_HASH("unused"), ("plugs",), auth=AuthMode.CERTIFICATE)
    store.pki.install(create_ca("lab CA"))
    ca = store.pki.load()
    (tmp_path / "plug-1.crt").write_bytes(certificate_pem(issue_client_certificate(ca, "plug-1").certificate))
    stranger = create_ca("someone else's CA")
    (tmp_path / "other.crt").write_bytes(certificate_pem(issue_client_certificate(stranger, "plug-1").certificate))

    dialog = explainer(window)
    dialog.prefill(None, "DVES_1A2B3C", "plugs/plug-1/state", Kind.PUBLISH)
    dialog.certificate.setText(str(tmp_path / "plug-1.crt"))
    text = run(qtbot, dialog)
    assert "✓ Allowed — may connect and publish to 'plugs/plug-1/state'" in text
    assert "CONNECT as 'plug-1' (client certificate) with clientId 'DVES_1A2B3C'" in text
    assert "user 'plug-1' authenticated by client certificate" in text

    dialog.certificate.setText(str(tmp_path / "other.crt"))
    assert dialog.run() is None  # the handshake would refuse it: said next to the field, nothing run
    assert "the TLS handshake would refuse other.crt" in dialog.certificate_error.message
    dialog.certificate.setText(str(tmp_path / "missing.crt"))
    assert dialog.run() is None
    assert "cannot read" in dialog.certificate_error.message
