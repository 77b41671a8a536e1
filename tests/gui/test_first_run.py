"""The first-run wizard on the real window and broker: its set-up lets a paho client connect with the user it
created (and nobody anonymous); it opens on a first start only and never again once done or skipped."""

from __future__ import annotations

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode
from pytestqt.qtbot import QtBot

from mqttdesk.broker.service import BrokerState
from mqttdesk.gui import first_run_setup
from mqttdesk.gui.first_run_setup import FIRST_RUN_DONE, FIRST_USER_ROLE
from mqttdesk.gui.first_run_wizard import FirstRunWizard
from mqttdesk.gui.main_window import MainWindow
from mqttdesk.gui.widgets.copy_line import CopyLine
from mqttdesk.gui.window_state import flag
from mqttdesk.store.db import Store
from mqttdesk.store.pki_files import CA_CERT
from tests.gui.conftest import FAST_HASH


def connack(qtbot: QtBot, port: int, username: str | None, password: str | None = None) -> int:
    """The CONNACK code a fresh paho client gets, as paho 2 names 3.1.1's codes (0: accepted, 134: bad username or
    password (3.1.1's 4), 135: not authorized (5))."""
    codes: list[int] = []
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"probe-{username}", protocol=mqtt.MQTTv311,
                         reconnect_on_failure=False)
    if username is not None:
        client.username_pw_set(username, password)

    def on_connect(_client: mqtt.Client, _userdata: object, _flags: object, code: ReasonCode, _props: object
                   ) -> None:
        codes.append(code.value)

    client.on_connect = on_connect
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        qtbot.waitUntil(lambda: bool(codes), timeout=5000)
    finally:
        client.disconnect()
        client.loop_stop()
    return codes[0]


def test_the_wizard_sets_up_a_broker_its_user_connects_to(qtbot: QtBot, window: MainWindow, store: Store) -> None:
    assert window.run_first_run()
    wizard = window.dialog
    assert isinstance(wizard, FirstRunWizard)
    assert wizard.where.local_radio.isChecked()
    wizard.where.port.setValue(0)  # a free port for the test
    wizard.next()
    assert wizard.currentPage() is wizard.who
    assert wizard.who.anonymous_radio.isEnabled()  # this computer only: anonymous may be chosen
    wizard.who.name_edit.setText("dev")
    password = wizard.who.password.text()
    assert len(password) >= 16  # generated, shown once
    wizard.next()  # "Set up"
    qtbot.waitUntil(lambda: wizard.currentPage() is wizard.connect_page, timeout=10000)

    status = window.service.status
    assert status.state is BrokerState.LISTENING
    assert status.addresses[0][0] == "127.0.0.1"
    port = status.addresses[0][1]
    assert store.users.find("dev") is not None
    assert store.users.find("dev").roles == (FIRST_USER_ROLE,)  # type: ignore[union-attr]
    line = wizard.connect_page.lines["mosquitto_sub"]
    assert isinstance(line, CopyLine)
    assert line.text() == f"mosquitto_sub -h 127.0.0.1 -p {port} -u dev -P {password} -t '#' -v"

    assert connack(qtbot, port, "dev", password) == 0
    assert connack(qtbot, port, "dev", "wrong") == 134
    assert connack(qtbot, port, None) == 135  # a user was made: anonymous clients are refused

    wizard.accept()
    assert flag(window.settings, FIRST_RUN_DONE) is True
    assert not window.run_first_run()  # never again


def test_skipping_counts_as_done_and_a_store_with_users_never_shows_it(window: MainWindow, store: Store) -> None:
    assert window.run_first_run()
    wizard = window.dialog
    assert isinstance(wizard, FirstRunWizard)
    wizard.reject()  # Skip
    assert not window.run_first_run()
    window.settings.remove(FIRST_RUN_DONE)
    store.users.add("alice", FAST_HASH("pw"), ())
    assert not window.run_first_run()  # set up already (e.g. from the command line)


def test_my_network_cannot_be_anonymous(window: MainWindow) -> None:
    assert window.run_first_run()
    wizard = window.dialog
    assert isinstance(wizard, FirstRunWizard)
    wizard.where.network_radio.setChecked(True)
    wizard.next()
    assert not wizard.who.anonymous_radio.isEnabled()
    assert wizard.who.user_radio.isChecked()
    wizard.reject()


def test_anonymous_on_this_computer_only(qtbot: QtBot, window: MainWindow, store: Store) -> None:
    assert window.run_first_run()
    wizard = window.dialog
    assert isinstance(wizard, FirstRunWizard)
    wizard.where.port.setValue(0)
    wizard.next()
    wizard.who.anonymous_radio.setChecked(True)
    wizard.next()
    qtbot.waitUntil(lambda: wizard.currentPage() is wizard.connect_page, timeout=10000)
    port = window.service.status.addresses[0][1]
    assert connack(qtbot, port, None) == 0
    assert store.users.list() == []
    setting = store.settings.anonymous("0.0.0.0")
    assert (setting.mode, setting.effective) == ("auto", False)  # opened to the network later: anonymous is off
    line = wizard.connect_page.lines["mosquitto_sub"]
    assert isinstance(line, CopyLine)
    assert line.text() == f"mosquitto_sub -h 127.0.0.1 -p {port} -t '#' -v"
    wizard.accept()


def test_tls_with_the_built_in_ca_lets_the_user_connect_over_tls(qtbot: QtBot, window: MainWindow,
                                                                store: Store, monkeypatch: pytest.MonkeyPatch
                                                                ) -> None:
    monkeypatch.setattr(first_run_setup, "TLS_PORT", 0)  # a free port for the test, not 8883
    assert window.run_first_run()
    wizard = window.dialog
    assert isinstance(wizard, FirstRunWizard)
    wizard.where.port.setValue(0)
    wizard.where.tls_box.setChecked(True)
    wizard.next()
    wizard.who.name_edit.setText("dev")
    password = wizard.who.password.text()
    wizard.next()
    qtbot.waitUntil(lambda: wizard.currentPage() is wizard.connect_page, timeout=20000)
    assert store.pki.exists()
    tls_port = next(info.port for info in window.service.status.listeners if info.kind == "tls")
    ca_file = str(store.pki.files.path(CA_CERT))
    line = wizard.connect_page.lines["mosquitto_sub"]
    assert isinstance(line, CopyLine)
    assert f"-p {tls_port} --cafile {ca_file} -u dev" in line.text()

    codes: list[int] = []
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="tls-dev", protocol=mqtt.MQTTv311,
                         reconnect_on_failure=False)
    client.tls_set(ca_certs=ca_file)
    client.username_pw_set("dev", password)
    client.on_connect = lambda _c, _u, _f, code, _p: codes.append(code.value)
    client.connect_async("localhost", tls_port)  # the TLS handshake needs this thread's broker: in paho's thread
    client.loop_start()
    try:
        qtbot.waitUntil(lambda: bool(codes), timeout=10000)
    finally:
        client.disconnect()
        client.loop_stop()
    assert codes == [0]
    wizard.accept()
