"""The Banned tab (who, why, until, Unban; Ban with its error next to the field) and the status bar's word on a
password-guessing attack, on the real widgets over a real store, service and broker."""

from __future__ import annotations

import threading
import time

from pytestqt.qtbot import QtBot

from mqttdesk.core.bans import AUTOMATIC, Ban, BanKind
from mqttdesk.gui.bans_tab import BansTab
from mqttdesk.gui.main_window import MainWindow
from mqttdesk.gui.models.bans_model import BY, KIND, UNTIL, WHY
from mqttdesk.store.db import Store
from tests.gui.conftest import FAST_HASH
from tests.gui.helpers import cell, click, has_row, select_row, tab_of
from tests.integration.raw_mqtt import RawClient

WAIT_MS = 10_000


def test_the_banned_list_shows_who_why_until_and_unban_lifts_it(qtbot: QtBot, window: MainWindow,
                                                                 store: Store) -> None:
    tab = tab_of(window, "Banned", BansTab)
    assert tab.model.rowCount() == 0
    assert not tab.unban_button.isEnabled()
    now = time.time()
    store.bans.add(Ban(BanKind.ADDRESS, "127.0.0.5", "10 failed logins in 60 s from 127.0.0.5", now, now + 600))
    store.bans.add(Ban(BanKind.CLIENT_ID, "DVES_1", "flapping: 15 connects in 60 s of clientId 'DVES_1'", now,
                       now + 300))
    qtbot.waitUntil(lambda: has_row(tab.table, "127.0.0.5") and has_row(tab.table, "DVES_1"), timeout=WAIT_MS)
    assert cell(tab.table, "127.0.0.5", WHY) == "10 failed logins in 60 s from 127.0.0.5"
    assert cell(tab.table, "127.0.0.5", BY) == AUTOMATIC
    assert cell(tab.table, "DVES_1", KIND) == "clientId"
    assert str(cell(tab.table, "127.0.0.5", UNTIL)).startswith(time.strftime("%Y-", time.localtime(now + 600)))
    tooltip = str(cell(tab.table, "127.0.0.5", WHY, 3))  # ToolTipRole: the whole sentence, with the unban command
    assert tooltip.startswith("banned until ")
    assert "`mqttdesk ban remove 127.0.0.5`" in tooltip
    assert "banned for 10 min" in tab.note.text()
    assert "Loopback addresses are not exempt" in tab.note.text()
    select_row(tab.table, "127.0.0.5")
    assert tab.unban_button.isEnabled()
    click(qtbot, tab.unban_button)
    qtbot.waitUntil(lambda: not has_row(tab.table, "127.0.0.5"), timeout=WAIT_MS)
    assert store.bans.get(BanKind.ADDRESS, "127.0.0.5") is None
    assert has_row(tab.table, "DVES_1")


def test_ban_refuses_a_bad_address_next_to_the_field_and_adds_a_good_one(qtbot: QtBot, window: MainWindow,
                                                                         store: Store) -> None:
    tab = tab_of(window, "Banned", BansTab)
    tab.who.setText("not-an-address")
    click(qtbot, tab.ban_button)
    assert tab.ban_error.message == "'not-an-address' is not an IP address"
    assert store.bans.list() == []
    tab.who.setText("10.0.0.99")
    tab.duration.setCurrentIndex(tab.duration.findText("1 hour"))
    tab.reason.setText("a scanner")
    click(qtbot, tab.ban_button)
    assert tab.ban_error.message == ""
    qtbot.waitUntil(lambda: has_row(tab.table, "10.0.0.99"), timeout=WAIT_MS)
    [ban] = store.bans.list()
    assert (ban.value, ban.reason, ban.actor) == ("10.0.0.99", "a scanner", "admin")
    assert ban.until is not None
    assert 3590 < ban.until - ban.since <= 3600
    tab.kind.setCurrentIndex(tab.kind.findText("username"))
    tab.duration.setCurrentIndex(tab.duration.findText("until removed"))
    tab.who.setText("lamp")
    click(qtbot, tab.ban_button)
    qtbot.waitUntil(lambda: has_row(tab.table, "lamp"), timeout=WAIT_MS)
    assert cell(tab.table, "lamp", UNTIL) == "until removed"


def test_the_status_bar_says_when_the_broker_is_under_a_guessing_attack(qtbot: QtBot, window: MainWindow,
                                                                        store: Store, port: int) -> None:
    store.users.add("lamp", FAST_HASH("s3cret"))
    assert window.attack_status.isHidden()
    errors: list[BaseException] = []

    def guess(source: str) -> None:
        try:
            for n in range(6):  # 5 addresses × 6 guesses: 30 refusals, over the attack threshold of 20
                with RawClient(port, source=source) as raw:
                    assert raw.connect("guess", username="lamp", password=f"wrong-{source}-{n}".encode()
                                       ).return_code in (4, 5)
        except BaseException as exc:  # reported by the test below
            errors.append(exc)

    threads = [threading.Thread(target=guess, args=(f"127.0.7.{n + 1}",), daemon=True) for n in range(5)]
    for thread in threads:
        thread.start()
    qtbot.waitUntil(lambda: not any(t.is_alive() for t in threads), timeout=30_000)
    assert errors == []
    qtbot.waitUntil(window.attack_status.isVisible, timeout=WAIT_MS)
    assert window.attack_status.text() == ("Under a password-guessing attack: 30 refusals from 5 addresses in the "
                                           "last minute")
