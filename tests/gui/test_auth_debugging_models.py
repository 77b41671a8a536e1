"""The models behind the Auth log and the timeline, driven directly (no window, no broker): bounded memory, row
order, counters, export, notification summaries."""

from __future__ import annotations

import html
import json
import re
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from pytestqt.qtbot import QtBot

from mqttdesk.gui.auth_details import entry_html
from mqttdesk.gui.auth_log_export import write_csv, write_json
from mqttdesk.gui.auth_status import AuthCounters
from mqttdesk.gui.models.auth_log_model import RESULT, AuthLogTableModel, outcome_text
from mqttdesk.gui.models.forced_disconnects import ForcedDisconnects, forced_notices
from mqttdesk.gui.models.timeline_model import TimelineModel, event_label
from mqttdesk.gui.notifier import flash_text, summarise
from mqttdesk.store.auth_log_repo import AuthLogEntry
from mqttdesk.store.db import Store


def entry(entry_id: int, *, kind: str = "CONNECT", allowed: bool = True, code: str = "authenticated",
          client_id: str = "c", username: str | None = "lamp", reason: str = "ok") -> AuthLogEntry:
    return AuthLogEntry(entry_id, 1000.0 + entry_id, kind, allowed, client_id, username, "password", "10.0.0.2",
                        None, code, reason, ("step one", f"{'accepted' if allowed else 'refused'}: {reason}"))


def plain(rich: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", rich))


def ids(model: AuthLogTableModel) -> list[int]:
    return [e.id for e in model.entries()]


def test_auth_log_rows_are_newest_first_and_bounded(qtbot: QtBot) -> None:
    model = AuthLogTableModel(max_rows=5)
    inserts: list[tuple[int, int]] = []
    model.rowsInserted.connect(lambda _parent, first, last: inserts.append((first, last)))
    model.replace([entry(1), entry(2), entry(3)])
    assert ids(model) == [3, 2, 1]
    assert model.add_newer([entry(4), entry(5), entry(6)]) == 1  # one batch, one insert, the oldest row pushed out
    assert inserts == [(0, 2)]
    assert ids(model) == [6, 5, 4, 3, 2]
    assert model.oldest_id == 2
    model.set_newest_first(False)
    assert ids(model) == [2, 3, 4, 5, 6]
    assert model.entry_at(0).id == 2
    assert model.add_older([entry(0), entry(1)]) == 2  # the newest rows go when an older page comes in
    assert ids(model) == [0, 1, 2, 3, 4]
    assert model.row_of(3) == 3


def test_auth_log_result_cells_say_what_happened() -> None:
    assert outcome_text(entry(1)) == "✓ allowed"
    assert outcome_text(entry(1, allowed=False, code="bad-password")) == "✗ refused"
    assert outcome_text(entry(1, kind="DISCONNECT", code="client-disconnect")) == "• ended"
    assert outcome_text(entry(1, kind="KICK", allowed=False, code="kicked")) == "✗ forced"
    model = AuthLogTableModel()
    model.replace([entry(1, allowed=False, code="bad-password")])
    assert model.index(0, RESULT).data() == "✗ refused"


def test_export_writes_the_cli_keys_and_no_password(tmp_path: Path) -> None:
    rows = [entry(1), entry(2, allowed=False, code="bad-password", reason="wrong password for user 'lamp'")]
    write_json(rows, tmp_path / "log.json")
    data = json.loads((tmp_path / "log.json").read_text(encoding="utf-8"))
    assert [item["reason_code"] for item in data] == ["authenticated", "bad-password"]
    assert set(data[0]) >= {"time", "kind", "allowed", "client_id", "username", "method", "address", "topic",
                            "reason_code", "reason", "steps"}
    assert [item["protocol"] for item in data] == [None, None]
    write_csv([*rows, replace(entry(3), protocol="5")], tmp_path / "log.csv")
    lines = (tmp_path / "log.csv").read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("id,time,kind,allowed")
    assert lines[0].endswith(",protocol")
    assert "step one | refused: wrong password" in lines[2]
    assert lines[2].endswith(",")  # not known: an empty cell
    assert lines[3].endswith(",5")


def test_the_details_headline_names_the_protocol_version_when_it_is_known() -> None:
    headline = "client 'c' · username 'lamp' · by password · from 10.0.0.2"
    assert f"{headline} · MQTT 5" in plain(entry_html(replace(entry(1), protocol="5")))
    assert f"{headline} · MQTT 3.1.1" in plain(entry_html(replace(entry(1), protocol="3.1.1")))
    unknown = plain(entry_html(entry(1)))  # logged before the protocol was recorded
    assert headline in unknown
    assert "MQTT" not in unknown.split("Why:")[0]


def test_timeline_names_events_and_counts_them(qtbot: QtBot) -> None:
    model = TimelineModel()
    model.replace([entry(1), entry(2, allowed=False, code="bad-password"),
                   entry(3, kind="SUBSCRIBE", allowed=False, code="acl-denied")])
    model.add_newer([entry(4, kind="DISCONNECT", code="keepalive-timeout"),
                     entry(5, kind="KICK", allowed=False, code="kicked")])
    assert [event_label(model.entry_at(row)) for row in range(model.rowCount())] == [
        "disconnected: kicked", "disconnected: keep-alive timeout", "subscription denied", "connect refused",
        "connected"]
    assert model.counters.describe() == ("1 connect · 1 refused connect · 0 subscriptions granted · 1 denied topic"
                                         " · 2 disconnects (1 keep-alive timeout, 1 kicked)")


def test_notifications_summarise_a_burst() -> None:
    burst = [entry(n, allowed=False, code="bad-password", client_id=f"c{n}", reason="wrong password")
             for n in range(4)]
    burst.append(entry(9, kind="KICK", allowed=False, code="kicked", reason="kicked by admin"))
    title, message = summarise(burst)
    assert title == "4 refused, 1 forced disconnect"
    assert message.splitlines()[0] == "'lamp' (c0): wrong password"
    assert message.splitlines()[-1] == "… and 2 more: see the Auth log"


def test_the_status_bar_line_names_the_reason_in_words() -> None:
    latest = entry(1, kind="SUBSCRIBE", allowed=False, code="acl-no-rule", client_id="c1")
    line = flash_text("1 refused", latest)
    assert line == "⚠ 1 refused — 'lamp' (c1): no rule allows the topic"
    assert "acl-no-rule" not in line
    assert "future code" in flash_text("1 refused", replace(latest, reason_code="future-code"))


def test_status_counters_start_from_the_store_and_let_old_refusals_expire(qtbot: QtBot, store: Store) -> None:
    # a fixed clock at local midday: with the real time, a KICK 30 s ago is "yesterday" just after midnight
    now = datetime.now().replace(hour=12, minute=0, second=0, microsecond=0).timestamp()
    clock = [now]
    stored = [replace(entry(1, allowed=False, code="bad-password"), time=now - 90),  # older than a minute
              replace(entry(2, allowed=False, code="bad-password"), time=now - 30),
              replace(entry(3, kind="KICK", allowed=False, code="kicked"), time=now - 30)]
    store.auth_log.append(stored)
    counters = AuthCounters(store, clock=lambda: clock[0])
    assert counters.refused_last_minute == 1
    assert counters.forced_today == 1
    counters.on_entries([replace(entry(4, allowed=False, code="suspended"), time=now)])
    assert counters.refused_last_minute == 2
    clock[0] = now + 31  # the refusal of 30 s ago is now older than a minute: the armed timer lets it go
    with qtbot.waitSignal(counters.changed, timeout=1000):
        counters._expiry.timeout.emit()
    assert counters.refused_last_minute == 1


def test_a_session_ended_by_a_protocol_error_is_a_refusal_but_no_forced_disconnect(qtbot: QtBot,
                                                                                   store: Store) -> None:
    """The client broke the protocol: the log shows a refusal, but nobody kicked or suspended it, so no notice,
    no "Last forced disconnect" and no count in "forced disconnects today"."""
    now = datetime.now().replace(hour=12, minute=0, second=0, microsecond=0).timestamp()
    kick = replace(entry(1, kind="KICK", allowed=False, code="kicked", reason="disconnected: kicked by admin"),
                   time=now - 60)
    broke = replace(entry(2, kind="DISCONNECT", allowed=False, code="protocol-error",
                          reason="protocol error: a second CONNECT"), time=now - 30)
    assert kick.forced_end
    assert not broke.forced_end
    assert outcome_text(broke) == "✗ refused"
    assert forced_notices([broke]) == []
    assert summarise([kick, broke])[0] == "1 forced disconnect"
    assert ForcedDisconnects(store, "client_id").note([broke], {"c"}) == set()
    store.auth_log.append([kick, broke])
    assert store.auth_log.last_forced_disconnect(client_id="c") == replace(kick, id=1)  # not the newer one
    assert store.auth_log.count_forced_since(now - 3600) == 1
    counters = AuthCounters(store, clock=lambda: now)
    assert counters.forced_today == 1
    counters.on_entries([replace(broke, id=3, time=now)])
    assert counters.forced_today == 1
