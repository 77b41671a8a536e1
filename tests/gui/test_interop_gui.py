"""File → Export/Import and the auth service switch of the Integrations tab, offscreen, over a real store."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import aiohttp
import pytest
from PySide6.QtWidgets import QDialog, QFileDialog, QMenu
from pytestqt.qtbot import QtBot

from mqttdesk.broker.service import BrokerService
from mqttdesk.core.acl import Permission
from mqttdesk.gui.file_menu import TextDialog
from mqttdesk.gui.integrations_tab import IntegrationsTab
from mqttdesk.gui.main_window import MainWindow
from mqttdesk.store.db import Store
from tests.gui.conftest import FAST_HASH, AsyncRunner


def _file_menu(window: MainWindow) -> QMenu:
    [menu] = [a.menu() for a in window.menuBar().actions() if a.text().replace("&", "") == "File"]
    assert isinstance(menu, QMenu)
    return menu


def _provision(store: Store) -> None:
    store.roles.add("lamps")
    store.roles.allow("lamps", "home/%u/#", Permission.READWRITE)
    store.users.add("lamp", FAST_HASH("s3cret"), ("lamps",))


def test_file_menu_exports_with_the_report(window: MainWindow, store: Store, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    _provision(store)
    store.bootstraps.add("plugs", FAST_HASH("p"), ())
    shown: list[TextDialog] = []
    monkeypatch.setattr(window.file_actions, "_show", lambda dialog: shown.append(dialog) or 0)
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *args, **kwargs: str(tmp_path / "mosq"))
    [export] = [a for a in _file_menu(window).actions() if a.text().startswith("Export to Mosquitto")]
    export.trigger()
    assert (tmp_path / "mosq" / "password_file").read_text().startswith("lamp:$7$")
    [dialog] = shown
    assert "bootstrap credential 'plugs': left out" in dialog.text.toPlainText()


def test_file_menu_import_shows_the_plan_then_applies_it(window: MainWindow, store: Store, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    passwd = tmp_path / "passwd"
    passwd.write_text(f"fridge:{FAST_HASH('cold')}\n")
    acl = tmp_path / "acl"
    acl.write_text("user fridge\ntopic readwrite kitchen/#\n")
    answers = iter([(str(passwd), ""), (str(acl), "")])
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *args, **kwargs: next(answers))
    shown: list[TextDialog] = []
    accepted = QDialog.DialogCode.Accepted
    monkeypatch.setattr(window.file_actions, "_show", lambda dialog: shown.append(dialog) or accepted)
    window.file_actions.import_mosquitto()
    [dialog] = shown
    assert "create user 'fridge' (pbkdf2-sha512 hash; roles: fridge)" in dialog.text.toPlainText()
    assert store.users.get("fridge").roles == ("fridge",)
    # the same again clashes: the Import button is off and nothing changes
    shown.clear()
    assert window.file_actions.import_from("mosquitto", {"passwd": str(passwd), "acl": str(acl)}) is None
    [clash] = shown
    assert clash.apply_button is not None
    assert not clash.apply_button.isEnabled()
    assert "clash: user 'fridge' exists already" in clash.text.toPlainText()


def _busy_port() -> socket.socket:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    return taken


def test_auth_service_switch_answers_emqx_and_stops(window: MainWindow, service: BrokerService, store: Store,
                                                    aio: AsyncRunner, qtbot: QtBot) -> None:
    _provision(store)
    tab = window.tab("Integrations")
    assert isinstance(tab, IntegrationsTab)
    panel = tab.auth_service
    panel.port.setText("0")
    panel.enabled.setChecked(True)
    qtbot.waitUntil(lambda: panel.status.text().startswith("answering on http://127.0.0.1:"), timeout=5000)
    assert store.settings.auth_service_enabled()
    url = panel.status.text().removeprefix("answering on ")
    assert f'url = "{url}/emqx/authn"' in panel.config.toPlainText()  # the configuration names where it listens

    async def ask() -> dict[str, object]:
        headers = {"X-Mqttdesk-Secret": store.settings.auth_service_secret()}
        body = {"username": "lamp", "password": "s3cret", "clientid": "lamp-1", "peerhost": "10.0.0.7"}
        async with aiohttp.ClientSession() as session, session.post(f"{url}/emqx/authn", json=body,
                                                                    headers=headers) as response:
            return dict(json.loads(await response.text()))

    assert aio.run(ask())["result"] == "allow"
    panel.enabled.setChecked(False)
    qtbot.waitUntil(lambda: service.auth_service is None and panel.status.text() == "off", timeout=5000)
    assert not store.settings.auth_service_enabled()


def test_auth_service_on_a_busy_port_says_why_next_to_the_switch(window: MainWindow, service: BrokerService,
                                                                 qtbot: QtBot) -> None:
    tab = window.tab("Integrations")
    assert isinstance(tab, IntegrationsTab)
    panel = tab.auth_service
    taken = _busy_port()
    try:
        panel.port.setText(str(taken.getsockname()[1]))
        panel.enabled.setChecked(True)
        qtbot.waitUntil(lambda: "cannot listen on" in panel.error.message, timeout=5000)
    finally:
        taken.close()
    assert not panel.enabled.isChecked()
    assert service.auth_service is None


def test_a_switched_on_auth_service_starts_again_with_the_window(window: MainWindow, service: BrokerService,
                                                                 store: Store, qtbot: QtBot) -> None:
    from mqttdesk.gui.auth_service_panel import AuthServicePanel

    store.settings.set_auth_service_address("127.0.0.1", 0)
    store.settings.set_auth_service_enabled(True)
    panel = AuthServicePanel(window.context)  # what the next window's Integrations tab builds
    qtbot.addWidget(panel)
    assert panel.enabled.isChecked()
    qtbot.waitUntil(lambda: service.auth_service is not None and panel.status.text().startswith("answering"),
                    timeout=5000)
