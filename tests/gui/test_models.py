"""The item models on their own: row-by-row updates (no resets) and Qt's model consistency checks."""

from __future__ import annotations

import time

from PySide6.QtCore import QPersistentModelIndex, Qt
from pytestqt.modeltest import ModelTester
from pytestqt.qtbot import QtBot

from mqttdesk.broker.registry import LiveSession, SessionEvent, SessionEventKind, SessionRegistry
from mqttdesk.broker.session_state import SessionState
from mqttdesk.broker.subscription import Subscription
from mqttdesk.core.acl import Permission
from mqttdesk.core.decision import Grant
from mqttdesk.core.model import CredentialKind, CredentialRef, Method
from mqttdesk.gui.models.clients_model import (
    CLIENT_ID,
    CONNECTED_SINCE,
    DEVICE,
    HEADER_TIPS,
    HEADERS,
    MESSAGES_IN,
    METHOD,
    PROTOCOL,
    SUBSCRIPTIONS,
    ClientsTableModel,
)
from mqttdesk.gui.models.roles_model import RoleMembersModel, RolesTableModel, RulesTableModel
from mqttdesk.gui.models.users_model import SESSIONS, STATE, UsersTableModel
from mqttdesk.gui.widgets.state_badge import STATE_ROLE, state_of
from mqttdesk.store.db import Store
from tests.gui.conftest import FAST_HASH


def live(client_id: str, user: str | None = "lamp") -> LiveSession:
    """A connection record with its session, as the broker makes them (the record reads the session's state)."""
    credential = CredentialRef(CredentialKind.USER, user) if user else CredentialRef(CredentialKind.ANONYMOUS, "")
    grant = Grant(Method.PASSWORD if user else Method.ANONYMOUS, credential, user, client_id)
    record = LiveSession(client_id, user, grant.method.value, "127.0.0.1", time.time(), True, grant)
    SessionState(client_id, True, grant, record)  # sets record.session
    return record


class Recorder:
    """Which structural signals a model emitted."""

    def __init__(self, model: object) -> None:
        self.events: list[str] = []
        for name in ("modelReset", "rowsInserted", "rowsRemoved", "dataChanged"):
            getattr(model, name).connect(lambda *_args, name=name: self.events.append(name))


def test_clients_model_follows_registry_events_row_by_row(qtmodeltester: ModelTester) -> None:
    registry = SessionRegistry()
    registry.add(live("early"))
    model = ClientsTableModel(registry)
    registry.subscribe(model.on_session_event)
    qtmodeltester.check(model)
    seen = Recorder(model)

    a, b = live("a"), live("b", None)
    registry.add(a)
    registry.add(b)
    assert [model.index(row, CLIENT_ID).data() for row in range(3)] == ["early", "a", "b"]

    assert isinstance(a.session, SessionState)
    a.session.add_subscription("x/#", Subscription(1))
    a.messages_in = 5
    registry.touch(a)
    registry.flush_updates()
    assert model.index(1, SUBSCRIPTIONS).data() == "1"
    assert model.index(1, MESSAGES_IN).data() == "5"

    replacement = live("a")  # a take-over of clientId "a"
    registry.add(replacement)
    assert model.rowCount() == 3
    assert model.session_at(1) is replacement
    registry.remove("a", a)  # the old session ending later changes nothing
    assert model.rowCount() == 3

    registry.remove("early", registry.get("early"))  # type: ignore[arg-type]
    assert [model.index(row, CLIENT_ID).data() for row in range(2)] == ["a", "b"]
    assert model.row_of("b") == 1
    registry.remove("a", replacement)
    assert model.row_of("b") == 0
    assert "modelReset" not in seen.events
    assert seen.events.count("rowsInserted") == 2
    assert seen.events.count("rowsRemoved") == 2
    qtmodeltester.check(model)


def test_users_model_counts_live_sessions_per_user(qtbot: QtBot, store: Store, qtmodeltester: ModelTester) -> None:
    store.users.add("lamp", FAST_HASH("x"))
    store.users.add("other", FAST_HASH("x"))
    registry = SessionRegistry()
    registry.add(live("lamp-1"))
    model = UsersTableModel(store, registry)
    registry.subscribe(model.on_session_event)
    store.subscribe(model.on_store_changes)
    qtmodeltester.check(model)
    assert model.index(0, SESSIONS).data() == "1"

    second = live("lamp-2")
    registry.add(second)
    registry.add(live("anon", None))
    assert model.index(0, SESSIONS).data() == "2"
    registry.remove("lamp-2", second)
    assert model.index(0, SESSIONS).data() == "1"
    assert state_of(model.index(1, STATE).data(STATE_ROLE)) is not None

    seen = Recorder(model)
    store.users.add("new", FAST_HASH("x"))
    store.users.delete("other")
    assert seen.events == ["rowsInserted", "rowsRemoved"]
    assert sorted(model.user_at(row).name for row in range(model.rowCount())) == ["lamp", "new"]
    qtmodeltester.check(model)


def test_role_models_follow_store_changes(qtbot: QtBot, store: Store, qtmodeltester: ModelTester) -> None:
    roles, rules, members = RolesTableModel(store), RulesTableModel(store), RoleMembersModel(store)
    for model in (roles, rules, members):
        store.subscribe(model.on_store_changes)
    store.roles.add("r")
    rules.set_role("r")
    members.set_role("r")
    store.roles.allow("r", "a/#", Permission.READ)
    assert rules.rowCount() == 1
    store.users.add("lamp", FAST_HASH("x"), ("r",))
    assert members.stringList() == ["user 'lamp'"]
    assert roles.index(0, 2).data() == "1"
    qtmodeltester.check(roles)
    qtmodeltester.check(rules)
    store.roles.delete("r")
    assert roles.rowCount() == 0
    assert rules.rowCount() == 0
    assert rules.role_name is None


def test_clients_model_applies_a_batch_as_blocks(qtmodeltester: ModelTester) -> None:
    """The bridge hands over session events in batches: removals as runs of rows, arrivals as one insert."""
    registry = SessionRegistry()
    sessions = [live(f"c{n}") for n in range(8)]
    for session in sessions:
        registry.add(session)
    model = ClientsTableModel(registry)
    qtmodeltester.check(model)
    seen = Recorder(model)
    batch: list[SessionEvent] = []
    registry.subscribe(batch.append)

    for gone in (sessions[1], sessions[2], sessions[3], sessions[6]):  # two runs: rows 1-3 and row 6
        registry.remove(gone.client_id, gone)
    newcomers = [live("n1"), live("n2")]
    for session in newcomers:
        registry.add(session)
    passing = live("brief")  # arrives and leaves within the batch: never shown
    registry.add(passing)
    registry.remove("brief", passing)
    sessions[0].messages_in = 3
    registry.touch(sessions[0])
    registry.flush_updates()

    model.on_session_events(batch)
    assert [model.index(row, CLIENT_ID).data() for row in range(model.rowCount())] == [
        "c0", "c4", "c5", "c7", "n1", "n2"]
    assert [model.row_of(c) for c in ("c0", "c4", "c5", "c7", "n1", "n2")] == list(range(6))
    assert model.row_of("c1") is None
    assert seen.events.count("rowsRemoved") == 2  # one per run of adjacent rows
    assert seen.events.count("rowsInserted") == 1
    assert "modelReset" not in seen.events
    assert model.index(0, MESSAGES_IN).data() == "3"


def test_clients_model_shows_the_protocol_version_of_each_session(qtmodeltester: ModelTester) -> None:
    registry = SessionRegistry()
    older, newer = live("old-firmware"), live("new-firmware")
    newer.protocol = "5"
    registry.add(older)
    registry.add(newer)
    model = ClientsTableModel(registry)
    qtmodeltester.check(model)
    assert [model.index(row, PROTOCOL).data() for row in range(2)] == ["3.1.1", "5"]
    assert model.headerData(PROTOCOL, Qt.Orientation.Horizontal) == "Protocol"
    assert "3.1.1 or 5" in model.headerData(PROTOCOL, Qt.Orientation.Horizontal, Qt.ItemDataRole.ToolTipRole)
    assert model.columnCount() == len(HEADERS) == len(HEADER_TIPS) == DEVICE + 1  # the constants line up
    assert [s["protocol"] for s in (older.to_json(), newer.to_json())] == ["3.1.1", "5"]  # `clients --json`


def test_clients_model_shows_a_token_session_with_its_expiry() -> None:
    expires = time.time() + 3600
    grant = Grant(Method.TOKEN, CredentialRef(CredentialKind.TOKEN, "lab:s-1"), "s-1", "t-1", valid_until=expires)
    record = LiveSession("t-1", "s-1", grant.method.value, "127.0.0.1", time.time(), True, grant)
    SessionState("t-1", True, grant, record)
    registry = SessionRegistry()
    registry.add(record)
    model = ClientsTableModel(registry)
    shown = model.index(0, METHOD).data()
    assert shown == f"token (until {time.strftime('%H:%M:%S', time.localtime(expires))})"
    assert "valid until" in model.index(0, METHOD).data(Qt.ItemDataRole.ToolTipRole)


def _ids(model: ClientsTableModel) -> list[str]:
    return [model.index(row, CLIENT_ID).data() for row in range(model.rowCount())]


def test_clients_model_sorts_itself_and_inserts_a_batch_where_the_order_puts_it(qtmodeltester: ModelTester) -> None:
    registry = SessionRegistry()
    model = ClientsTableModel(registry)
    start = time.time()
    older = [live(f"old{n}") for n in range(4)]
    for number, session in enumerate(older):
        session.connected_since = start + number
    model.on_session_events([SessionEvent(SessionEventKind.CONNECTED, s.client_id, s) for s in older])
    model.sort(CONNECTED_SINCE, Qt.SortOrder.DescendingOrder)  # what the Clients tab shows: newest first
    assert _ids(model) == ["old3", "old2", "old1", "old0"]
    selected = QPersistentModelIndex(model.index(model.row_of("old1") or 0, CLIENT_ID))

    seen = Recorder(model)
    storm = [live(f"new{n}") for n in range(5)]
    for number, session in enumerate(storm):
        session.connected_since = start + 10 + number
    middle = live("between")
    middle.connected_since = start + 1.5
    model.on_session_events([SessionEvent(SessionEventKind.CONNECTED, s.client_id, s) for s in (*storm, middle)])
    assert _ids(model) == ["new4", "new3", "new2", "new1", "new0", "old3", "old2", "between", "old1", "old0"]
    assert seen.events.count("rowsInserted") == 2  # the storm as one block at the top, the other in its place
    assert "modelReset" not in seen.events
    assert [model.row_of(c) for c in _ids(model)] == list(range(10))
    assert selected.data() == "old1"  # a selection stays on its session while rows arrive around it
    qtmodeltester.check(model)

    model.sort(MESSAGES_IN, Qt.SortOrder.DescendingOrder)
    busy = _update_counter(model, older[0], messages_in=7)
    assert _ids(model)[0] == busy  # counters that change re-sort a table sorted by them
    assert selected.data() == "old1"
    model.sort(CLIENT_ID, Qt.SortOrder.AscendingOrder)
    assert _ids(model) == sorted(_ids(model))
    qtmodeltester.check(model)


def _update_counter(model: ClientsTableModel, session: LiveSession, *, messages_in: int) -> str:
    """An UPDATED event for `session` after its counter changed, as the registry sends it; its client id."""
    session.messages_in = messages_in
    model.on_session_events([SessionEvent(SessionEventKind.UPDATED, session.client_id, session)])
    return session.client_id


def test_clients_model_filters_by_client_id_and_still_counts_every_session(qtmodeltester: ModelTester) -> None:
    registry = SessionRegistry()
    model = ClientsTableModel(registry)
    sessions = [live(name) for name in ("lamp-1", "plug-1", "LAMP-2")]
    model.on_session_events([SessionEvent(SessionEventKind.CONNECTED, s.client_id, s) for s in sessions])
    model.set_filter("lamp")
    assert _ids(model) == ["lamp-1", "LAMP-2"]  # case-insensitive, part of the id
    later = [live("plug-2"), live("lamp-3")]
    model.on_session_events([SessionEvent(SessionEventKind.CONNECTED, s.client_id, s) for s in later])
    assert _ids(model) == ["lamp-1", "LAMP-2", "lamp-3"]
    assert model.session_total() == 5
    assert model.connected_count() == 5  # the count line counts who is connected, not who is shown
    model.on_session_events([SessionEvent(SessionEventKind.DISCONNECTED, "plug-1", sessions[1])])
    assert model.session_total() == 4
    qtmodeltester.check(model)
    model.sort(CLIENT_ID, Qt.SortOrder.AscendingOrder)
    assert _ids(model) == ["lamp-1", "LAMP-2", "lamp-3"]
    model.set_filter("")  # those left out come back, in the sort order
    assert _ids(model) == ["lamp-1", "LAMP-2", "lamp-3", "plug-2"]
    assert model.row_of("plug-1") is None
