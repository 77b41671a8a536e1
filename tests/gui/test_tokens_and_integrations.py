"""The Tokens page (issuers, mint-and-copy) and the Integrations page (the external HTTP service, its Test button),
on the real widgets over a real store and service."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from pytestqt.qtbot import QtBot

from mqttdesk.core.model import TokenField
from mqttdesk.gui.integrations_tab import IntegrationsTab
from mqttdesk.gui.main_window import MainWindow
from mqttdesk.gui.tokens_tab import TokensTab
from mqttdesk.store.db import Store
from tests.auth_service import USER_ROUTE, AuthService
from tests.gui.helpers import click, tab_of

SECRET = "a-gui-secret-that-is-long-enough-to-sign"


def test_an_hmac_issuer_is_added_and_its_minted_token_is_copied(qtbot: QtBot, window: MainWindow,
                                                                store: Store) -> None:
    tab = tab_of(window, "Tokens", TokensTab)
    click(qtbot, tab.add_button)
    assert tab.add_error.message == "give either a secret or a public key file"
    tab.name.setText("lab")
    tab.secret.setText("short")
    click(qtbot, tab.add_button)
    assert "at least 32 bytes" in tab.add_error.message
    tab.secret.setText(SECRET)
    tab.iss.setText("lab")
    tab.roles.setText("sensors")
    click(qtbot, tab.add_button)
    assert tab.add_error.message.startswith("no role named 'sensors'")
    store.roles.add("sensors")
    click(qtbot, tab.add_button)
    assert tab.add_error.message == ""
    issuer = store.token_issuers.get("lab")
    assert (issuer.hmac, issuer.issuer, issuer.roles) == (True, "lab", ("sensors",))
    assert tab.table.rowCount() == 1
    assert SECRET not in " ".join(tab.table.item(0, c).text() for c in range(tab.table.columnCount()))
    assert tab.secret.text() == ""  # not left in the form
    tab.mint_subject.setText("sensor-7")
    tab.mint_ttl.setText("15m")
    click(qtbot, tab.mint_button)
    token = tab.minted.text()
    assert QGuiApplication.clipboard().text() == token
    claims = jwt.decode(token, SECRET, algorithms=["HS256"])
    assert (claims["sub"], claims["iss"], claims["exp"] - claims["iat"]) == ("sensor-7", "lab", 900)


def test_a_public_key_issuer_cannot_be_minted_for_and_delete_removes_it(qtbot: QtBot, window: MainWindow,
                                                                       store: Store, tmp_path: Path) -> None:
    pem = tmp_path / "idp.pem"
    pem.write_bytes(ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    tab = tab_of(window, "Tokens", TokensTab)
    tab.name.setText("idp")
    tab.public_key.setText(str(pem))
    tab.field.setCurrentText(TokenField.USERNAME.value)
    click(qtbot, tab.add_button)
    assert store.token_issuers.get("idp").token_field is TokenField.USERNAME
    assert tab.mint_issuer.count() == 0  # only HMAC issuers can be minted for
    tab.mint_subject.setText("x")
    click(qtbot, tab.mint_button)
    assert "add an HMAC issuer first" in tab.mint_error.message
    click(qtbot, tab.delete_button)
    assert tab.delete_error.message == "select an issuer first"
    tab.table.selectRow(0)
    click(qtbot, tab.delete_button)
    assert store.token_issuers.list() == []
    assert tab.table.rowCount() == 0


@pytest.fixture
def auth_service() -> Iterator[AuthService]:
    running = AuthService(users={"dev-1": "pw-1"}).start()
    yield running
    running.stop()


def test_the_integrations_page_saves_masks_headers_and_tests_through_the_service(
        qtbot: QtBot, window: MainWindow, store: Store, auth_service: AuthService) -> None:
    tab = tab_of(window, "Integrations", IntegrationsTab)
    tab.enabled.setChecked(True)
    click(qtbot, tab.save_button)
    assert "set the service URL" in tab.error.message
    tab.url.setText(auth_service.url)
    tab.headers.setPlainText("X-Api-Key: k-123")
    click(qtbot, tab.save_button)
    assert tab.error.message == ""
    settings = store.settings.external()
    assert (settings.url, settings.enabled, settings.headers) == (auth_service.url, True, (("X-Api-Key", "k-123"),))
    assert tab.headers.toPlainText() == ""  # shown masked, not in the field
    assert "k-123" not in tab.headers.placeholderText()
    tab.test_username.setText("dev-1")
    tab.test_password.setText("pw-1")
    click(qtbot, tab.test_button)
    qtbot.waitUntil(lambda: tab.result_text.startswith(("allowed", "refused")), timeout=10000)
    assert tab.result_text.startswith("allowed: external user 'dev-1' admitted")
    assert f"POST {auth_service.url}{USER_ROUTE}" in tab.result_text
    assert "pw-1" not in tab.result_text
    assert auth_service.bodies(USER_ROUTE) == [{"username": "dev-1", "password": "pw-1", "clientid": "test-1"}]
    tab.test_password.setText("wrong-one")
    click(qtbot, tab.test_button)
    qtbot.waitUntil(lambda: "external-denied" in tab.result_text, timeout=10000)
    assert "HTTP 403" in tab.result_text
    click(qtbot, tab.remove_headers)
    assert store.settings.external().headers == ()


def test_the_issuers_table_sorts_and_filters(qtbot: QtBot, window: MainWindow, store: Store) -> None:
    tab = tab_of(window, "Tokens", TokensTab)
    for name in ("zeta", "alpha", "mid"):
        store.token_issuers.add(name, SECRET, hmac=True, issuer=None, audience=None, claim="sub",
                                token_field=TokenField.PASSWORD, roles=())
    tab.refresh()
    tab.table.sortByColumn(0, Qt.SortOrder.AscendingOrder)
    assert [tab.table.item(row, 0).text() for row in range(3)] == ["alpha", "mid", "zeta"]
    tab.filter_edit.setText("ZE")
    assert [tab.table.item(row, 0).text() for row in range(3) if not tab.table.isRowHidden(row)] == ["zeta"]
    assert window.empty_states["Tokens"].text == ""
