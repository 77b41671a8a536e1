"""The SQLite store: file safety, migrations, repositories, and change notification in and across processes."""

from __future__ import annotations

import dataclasses
import logging
import sqlite3
import stat
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mqttdesk.core.acl import Effect, Permission, Rule
from mqttdesk.core.decision import Decision, Kind
from mqttdesk.core.errors import (
    AlreadyExistsError,
    InvalidTransitionError,
    MqttdeskError,
    NotFoundError,
    ValidationError,
)
from mqttdesk.core.model import AnonymousPolicy, Device, Method
from mqttdesk.core.passwords import hash_password, verify_password
from mqttdesk.core.reasons import Reason, ReasonCode
from mqttdesk.core.states import CredentialState, StateAction
from mqttdesk.store import migrations
from mqttdesk.store.auth_log_repo import AuthLogEntry, LogFilter, entry_from_decision
from mqttdesk.store.changes import Change, ChangeKind
from mqttdesk.store.db import DB_FILENAME, Store
from mqttdesk.store.migrations import MIGRATIONS, SCHEMA_VERSION, SchemaTooNewError, migrate
from mqttdesk.store.roles_repo import parse_permission
from mqttdesk.store.settings_repo import DEFAULT_HOST, DEFAULT_PORT, is_loopback

MakeHash = Callable[[str], str]


class Recorder:
    """A change listener that keeps every announcement."""

    def __init__(self) -> None:
        self.calls: list[tuple[Change, ...]] = []

    def __call__(self, changes: tuple[Change, ...]) -> None:
        self.calls.append(changes)


@pytest.fixture
def announced(store: Store) -> Iterator[Recorder]:
    recorder = Recorder()
    store.subscribe(recorder)
    yield recorder
    store.unsubscribe(recorder)


def user_change(name: str) -> Change:
    return Change(ChangeKind.USER, name)


def role_change(name: str) -> Change:
    return Change(ChangeKind.ROLE, name)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# -- the file -------------------------------------------------------------------------------------------------


def test_file_is_created_mode_0600(store: Store, data_dir: Path) -> None:
    assert store.path == data_dir / DB_FILENAME
    assert _mode(store.path) == 0o600
    sidecars = [store.path.with_name(store.path.name + suffix) for suffix in ("-wal", "-shm")]
    for sidecar in sidecars:
        if sidecar.exists():
            assert _mode(sidecar) == 0o600, sidecar
    assert _mode(data_dir) & 0o077 == 0  # the directory we created is private too


def test_sidecars_stay_private_after_writes(store: Store, make_hash: MakeHash) -> None:
    store.users.add("lamp", make_hash("pw"))
    wal = store.path.with_name(store.path.name + "-wal")
    assert wal.exists()  # WAL mode writes go there first
    assert _mode(wal) == 0o600


def test_wal_mode_and_foreign_keys(store: Store) -> None:
    assert store.connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.connection.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert store.connection.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_the_page_cache_is_bounded_to_256_kib(store: Store) -> None:
    # SQLite's default 2 MiB filled with Auth log pages nobody reads again: memory of the broker's, not the data's
    assert store.connection.execute("PRAGMA cache_size").fetchone()[0] == -256


def test_reopen_keeps_data(data_dir: Path, make_hash: MakeHash) -> None:
    first = Store.open(data_dir)
    first.users.add("lamp", make_hash("pw"))
    first.close()
    second = Store.open(str(data_dir))  # a str works as well as a Path
    try:
        assert second.users.get("lamp").state is CredentialState.INACTIVE
        assert _mode(second.path) == 0o600
    finally:
        second.close()


# -- migrations -----------------------------------------------------------------------------------------------


def _build_version_1(path: Path) -> None:
    path.parent.mkdir(parents=True)
    db = sqlite3.connect(path, isolation_level=None)
    db.executescript(MIGRATIONS[0])
    db.execute("PRAGMA user_version = 1")
    db.execute(
        "INSERT INTO users (name, password_hash, state, created, state_since, last_used) VALUES (?, ?, ?, ?, ?, ?)",
        ("old-timer", "$7$1000$AAAAAAAAAAAAAAAA$" + "A" * 86 + "==", "active", 1000.0, 1000.0, 2000.0),
    )
    db.execute("INSERT INTO roles (name, created) VALUES ('viewers', 1000.0)")
    db.execute(
        "INSERT INTO role_rules (role, topic_filter, permission, effect) VALUES ('viewers', '#', 'read', 'allow')"
    )
    db.execute("INSERT INTO user_roles (user, role, position) VALUES ('old-timer', 'viewers', 0)")
    db.execute(
        "INSERT INTO auth_log (time, kind, allowed, client_id, username, method, address, topic, reason_code, reason)"
        " VALUES (3000.0, 'CONNECT', 1, 'c1', 'old-timer', 'password', '10.0.0.1', NULL, 'authenticated', 'ok')"
    )
    db.close()


def test_version_1_database_is_migrated_keeping_its_data(data_dir: Path) -> None:
    path = data_dir / DB_FILENAME
    _build_version_1(path)
    store = Store.open(data_dir)
    try:
        assert store.connection.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        user = store.users.get("old-timer")
        assert (user.state, user.roles, user.created, user.last_used) == (
            CredentialState.ACTIVE,
            ("viewers",),
            1000.0,
            2000.0,
        )
        assert store.roles.get("viewers").rules == (Rule("viewers", "#", Permission.READ, Effect.ALLOW),)
        [entry] = store.auth_log.recent()
        assert (entry.client_id, entry.reason_code, entry.time) == ("c1", "authenticated", 3000.0)
        assert entry.steps == ()  # the new column defaults to []
        assert entry.protocol is None  # logged before the protocol was: not known, not guessed
        assert store.connection.execute("SELECT steps FROM auth_log").fetchone()[0] == "[]"
        # the tables of version 2 work
        store.users.apply("old-timer", StateAction.SUSPEND)
        assert [h.action for h in store.users.history("old-timer")] == ["suspend"]
        assert store.connection.execute("SELECT COUNT(*) FROM change_log").fetchone()[0] == 1
    finally:
        store.close()


def test_migrate_reports_the_version_it_started_at() -> None:
    db = sqlite3.connect(":memory:", isolation_level=None)
    assert migrate(db) == 0
    assert migrate(db) == SCHEMA_VERSION
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_newer_schema_is_refused(data_dir: Path) -> None:
    Store.open(data_dir).close()
    path = data_dir / DB_FILENAME
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(SchemaTooNewError, match=f"schema version {SCHEMA_VERSION + 1}, newer than") as raised:
        Store.open(data_dir)
    assert isinstance(raised.value, MqttdeskError)  # front-ends show it as one line, no traceback
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION + 1  # untouched
    db.close()


def test_failing_migration_step_leaves_the_previous_version(monkeypatch: pytest.MonkeyPatch) -> None:
    db = sqlite3.connect(":memory:", isolation_level=None)
    migrate(db)
    broken = "CREATE TABLE half_done (x); INSERT INTO no_such_table VALUES (1);"
    monkeypatch.setattr(migrations, "MIGRATIONS", (*MIGRATIONS, broken))
    monkeypatch.setattr(migrations, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    with pytest.raises(sqlite3.OperationalError, match="no_such_table"):
        migrations.migrate(db)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert db.execute("SELECT name FROM sqlite_master WHERE name = 'half_done'").fetchone() is None
    assert not db.in_transaction


class _OvertakenConnection(sqlite3.Connection):
    """A connection that another process overtakes: it migrates the file between our version check and our step."""

    rival_path: Path
    overtaken = False

    def executescript(self, script: str) -> sqlite3.Cursor:
        if not type(self).overtaken:
            type(self).overtaken = True
            rival = sqlite3.connect(self.rival_path, isolation_level=None)
            migrate(rival)
            rival.close()
        return super().executescript(script)


def test_concurrent_first_open_migrates_once(tmp_path: Path) -> None:
    path = tmp_path / "fresh.sqlite3"
    _OvertakenConnection.rival_path = path
    db = sqlite3.connect(path, isolation_level=None, factory=_OvertakenConnection)
    try:
        assert migrate(db) == 0  # no "table settings already exists"
        assert _OvertakenConnection.overtaken
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert db.execute("SELECT COUNT(*) FROM pragma_table_info('auth_log') WHERE name = 'steps'").fetchone()[0] == 1
    finally:
        db.close()


# -- users ----------------------------------------------------------------------------------------------------


def test_add_and_get_user(store: Store, pw_hash: str) -> None:
    store.roles.add("devices")
    before = time.time()
    user = store.users.add("lamp", pw_hash, ("devices",))
    assert user.name == "lamp"
    assert user.password_hash == pw_hash
    assert user.state is CredentialState.INACTIVE
    assert user.roles == ("devices",)
    assert before <= user.created <= time.time()
    assert user.state_since == user.created
    assert user.last_used is None
    assert store.users.get("lamp") == user
    assert store.users.find("lamp") == user
    assert verify_password("secret", store.users.get("lamp").password_hash)
    [created] = store.users.history("lamp")
    assert (created.action, created.from_state, created.to_state) == ("create", None, "inactive")
    assert created.actor == "admin"


def test_password_hash_is_not_in_the_users_repr(store: Store, pw_hash: str) -> None:
    assert pw_hash not in repr(store.users.add("lamp", pw_hash))


def test_list_users_sorted_with_roles_in_order(store: Store, pw_hash: str) -> None:
    for role in ("a", "b", "c"):
        store.roles.add(role)
    store.users.add("zed", pw_hash, ("c", "a"))
    store.users.add("amy", pw_hash)
    store.users.add("max", pw_hash, ("b", "b", "a"))
    users = store.users.list()
    assert [u.name for u in users] == ["amy", "max", "zed"]
    assert [u.roles for u in users] == [(), ("b", "a"), ("c", "a")]


def test_unknown_user(store: Store) -> None:
    assert store.users.find("ghost") is None
    with pytest.raises(NotFoundError, match="no user named 'ghost'"):
        store.users.get("ghost")
    actions: list[Callable[[], object]] = [
        lambda: store.users.set_roles("ghost", ()),
        lambda: store.users.apply("ghost", StateAction.SUSPEND),
        lambda: store.users.delete("ghost"),
    ]
    for action in actions:
        with pytest.raises(NotFoundError, match="no user named 'ghost'"):
            action()


def test_duplicate_user_is_refused(store: Store, pw_hash: str, announced: Recorder) -> None:
    store.users.add("lamp", pw_hash)
    announced.calls.clear()
    with pytest.raises(AlreadyExistsError, match="a user named 'lamp' already exists"):
        store.users.add("lamp", pw_hash)
    assert announced.calls == []
    assert len(store.users.history("lamp")) == 1


@pytest.mark.parametrize(("name", "message"), [("", "must not be empty"), (" lamp", "spaces"), ("a\nb", "control")])
def test_invalid_user_name(store: Store, pw_hash: str, name: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        store.users.add(name, pw_hash)
    assert store.users.list() == []


def test_user_needs_a_real_hash(store: Store) -> None:
    with pytest.raises(ValidationError):
        store.users.add("lamp", "plain text password")
    assert store.users.find("lamp") is None


def test_unknown_role_refuses_the_whole_add(store: Store, pw_hash: str, announced: Recorder) -> None:
    store.roles.add("known")
    announced.calls.clear()
    with pytest.raises(NotFoundError, match="no role named 'unknown'"):
        store.users.add("lamp", pw_hash, ("known", "unknown"))
    assert store.users.find("lamp") is None
    assert announced.calls == []


def test_set_roles(store: Store, pw_hash: str) -> None:
    for role in ("a", "b"):
        store.roles.add(role)
    store.users.add("lamp", pw_hash, ("a",))
    assert store.users.set_roles("lamp", ("b", "a")).roles == ("b", "a")
    with pytest.raises(NotFoundError, match="no role named 'nope'"):
        store.users.set_roles("lamp", ("a", "nope"))
    assert store.users.get("lamp").roles == ("b", "a")  # unchanged
    assert store.users.set_roles("lamp", ()).roles == ()
    assert [h.action for h in store.users.history("lamp")] == ["create", "roles: b, a", "roles: none"]


def test_set_password(store: Store, make_hash: MakeHash) -> None:
    store.users.add("lamp", make_hash("old"))
    store.users.set_password("lamp", make_hash("new"))
    stored = store.users.get("lamp").password_hash
    assert verify_password("new", stored)
    assert not verify_password("old", stored)
    with pytest.raises(ValidationError):
        store.users.set_password("lamp", "new")
    with pytest.raises(NotFoundError):
        store.users.set_password("ghost", make_hash("x"))
    assert store.users.history("lamp")[-1].action == "password reset"


def test_apply_state_actions(store: Store, pw_hash: str) -> None:
    store.users.add("lamp", pw_hash)
    suspended = store.users.apply("lamp", StateAction.SUSPEND, actor="alice")
    assert suspended.state is CredentialState.SUSPENDED
    # never used: activate goes back to inactive
    assert store.users.apply("lamp", StateAction.ACTIVATE).state is CredentialState.INACTIVE
    with pytest.raises(InvalidTransitionError):
        store.users.apply("lamp", StateAction.ACTIVATE)
    used = store.users.apply("lamp", StateAction.USE)
    assert used.state is CredentialState.ACTIVE
    assert used.last_used is not None
    store.users.apply("lamp", StateAction.SUSPEND)
    # used once: activate goes to active
    assert store.users.apply("lamp", StateAction.ACTIVATE).state is CredentialState.ACTIVE
    assert store.users.apply("lamp", StateAction.REVOKE).state is CredentialState.REVOKED
    with pytest.raises(InvalidTransitionError, match="revocation is final"):
        store.users.apply("lamp", StateAction.ACTIVATE)
    assert store.users.get("lamp").state is CredentialState.REVOKED
    history = [(h.action, h.from_state, h.to_state, h.actor) for h in store.users.history("lamp")]
    assert history == [
        ("create", None, "inactive", "admin"),
        ("suspend", "inactive", "suspended", "alice"),
        ("activate", "suspended", "inactive", "admin"),
        ("use", "inactive", "active", "admin"),
        ("suspend", "active", "suspended", "admin"),
        ("activate", "suspended", "active", "admin"),
        ("revoke", "active", "revoked", "admin"),
    ]


def test_apply_moves_state_since(store: Store, pw_hash: str) -> None:
    created = store.users.add("lamp", pw_hash)
    suspended = store.users.apply("lamp", StateAction.SUSPEND)
    assert suspended.state_since >= created.state_since
    assert suspended.created == created.created


def test_mark_used_first_use_activates(store: Store, pw_hash: str, announced: Recorder) -> None:
    store.users.add("lamp", pw_hash)
    announced.calls.clear()
    store.users.mark_used("lamp", when=5000.0)
    user = store.users.get("lamp")
    assert (user.state, user.state_since, user.last_used) == (CredentialState.ACTIVE, 5000.0, 5000.0)
    last = store.users.history("lamp")[-1]
    assert (last.action, last.from_state, last.to_state, last.actor) == ("first use", "inactive", "active", "broker")
    assert announced.calls == [(user_change("lamp"),)]
    # later uses only move last_used, and nobody is told
    store.users.mark_used("lamp", when=6000.0)
    user = store.users.get("lamp")
    assert (user.state, user.state_since, user.last_used) == (CredentialState.ACTIVE, 5000.0, 6000.0)
    assert len(announced.calls) == 1
    assert len(store.users.history("lamp")) == 2


def test_mark_used_ignores_unknown_and_suspended_users(store: Store, pw_hash: str) -> None:
    store.users.mark_used("ghost")  # deleted meanwhile: nothing to do, no error
    store.users.add("lamp", pw_hash)
    store.users.apply("lamp", StateAction.SUSPEND)  # suspended between the decision and the bookkeeping
    store.users.mark_used("lamp", when=5000.0)
    user = store.users.get("lamp")
    assert user.state is CredentialState.SUSPENDED
    assert user.last_used is None  # still "never used": activate leads back to inactive
    assert store.users.apply("lamp", StateAction.ACTIVATE).state is CredentialState.INACTIVE


def test_delete_user(store: Store, pw_hash: str) -> None:
    store.roles.add("devices")
    store.users.add("lamp", pw_hash, ("devices",))
    store.users.apply("lamp", StateAction.SUSPEND)
    store.users.delete("lamp", actor="alice")
    assert store.users.find("lamp") is None
    assert store.roles.members("devices") == []
    last = store.users.history("lamp")[-1]
    assert (last.action, last.from_state, last.to_state, last.actor) == ("delete", "suspended", None, "alice")
    store.users.add("lamp", pw_hash)  # the name is free again
    assert store.users.get("lamp").roles == ()


# -- roles ----------------------------------------------------------------------------------------------------


def test_add_and_list_roles(store: Store) -> None:
    store.roles.add("viewers")
    store.roles.add("admins")
    assert store.roles.names() == ["admins", "viewers"]
    assert [role.name for role in store.roles.list()] == ["admins", "viewers"]
    assert store.roles.get("viewers").rules == ()
    with pytest.raises(AlreadyExistsError, match="a role named 'viewers' already exists"):
        store.roles.add("viewers")
    with pytest.raises(ValidationError):
        store.roles.add("")
    with pytest.raises(NotFoundError, match="no role named 'ghost'"):
        store.roles.get("ghost")


def test_allow_read_then_write_is_readwrite(store: Store) -> None:
    store.roles.add("r")
    store.roles.allow("r", "sensors/#", Permission.READ)
    role = store.roles.allow("r", "sensors/#", Permission.WRITE)
    assert role.rules == (Rule("r", "sensors/#", Permission.READWRITE, Effect.ALLOW),)
    # widening is idempotent
    assert store.roles.allow("r", "sensors/#", Permission.READ).rules == role.rules


def test_same_permission_twice_stays(store: Store) -> None:
    store.roles.add("r")
    store.roles.allow("r", "a", Permission.WRITE)
    assert store.roles.allow("r", "a", Permission.WRITE).rules == (Rule("r", "a", Permission.WRITE),)


def test_allow_and_deny_on_the_same_filter_are_two_rules(store: Store) -> None:
    store.roles.add("r")
    store.roles.allow("r", "#", Permission.READWRITE)
    store.roles.deny("r", "secret/#", Permission.READ)
    role = store.roles.deny("r", "#", Permission.WRITE)
    assert role.rules == (
        Rule("r", "#", Permission.READWRITE, Effect.ALLOW),
        Rule("r", "secret/#", Permission.READ, Effect.DENY),
        Rule("r", "#", Permission.WRITE, Effect.DENY),
    )


def test_rules_with_patterns_and_bad_filters(store: Store) -> None:
    store.roles.add("r")
    assert store.roles.allow("r", "users/%u/#", Permission.READWRITE).rules[0].topic_filter == "users/%u/#"
    for bad in ("a/#/b", "a+", "users/x%u", ""):
        with pytest.raises(ValidationError):
            store.roles.allow("r", bad, Permission.READ)
    with pytest.raises(NotFoundError, match="no role named 'ghost'"):
        store.roles.allow("ghost", "a", Permission.READ)
    assert len(store.roles.get("r").rules) == 1


def test_remove_rule(store: Store) -> None:
    store.roles.add("r")
    store.roles.allow("r", "a/#", Permission.READ)
    store.roles.deny("r", "a/#", Permission.READ)
    store.roles.allow("r", "b", Permission.READ)
    assert store.roles.remove_rule("r", "a/#", Effect.DENY).rules == (
        Rule("r", "a/#", Permission.READ, Effect.ALLOW),
        Rule("r", "b", Permission.READ, Effect.ALLOW),
    )
    store.roles.deny("r", "a/#", Permission.READ)
    assert store.roles.remove_rule("r", "a/#").rules == (Rule("r", "b", Permission.READ, Effect.ALLOW),)
    with pytest.raises(NotFoundError, match="role 'r' has no rule on 'a/#'"):
        store.roles.remove_rule("r", "a/#")
    with pytest.raises(NotFoundError, match="no role named 'ghost'"):
        store.roles.remove_rule("ghost", "b")


def test_delete_role(store: Store, pw_hash: str, announced: Recorder) -> None:
    store.roles.add("doomed")
    store.roles.add("kept")
    store.roles.allow("doomed", "#", Permission.READ)
    store.users.add("lamp", pw_hash, ("doomed", "kept"))
    store.users.add("bob", pw_hash, ("doomed",))
    store.users.add("eve", pw_hash, ("kept",))
    assert store.roles.members("doomed") == ["bob", "lamp"]
    announced.calls.clear()
    store.roles.delete("doomed")
    assert store.roles.names() == ["kept"]
    assert store.users.get("lamp").roles == ("kept",)
    assert store.users.get("bob").roles == ()
    assert store.connection.execute("SELECT COUNT(*) FROM role_rules").fetchone()[0] == 0
    assert announced.calls == [(role_change("doomed"), user_change("bob"), user_change("lamp"))]
    with pytest.raises(NotFoundError):
        store.roles.delete("doomed")


@pytest.mark.parametrize(
    ("text", "expected"), [("read", Permission.READ), ("write", Permission.WRITE), ("readwrite", Permission.READWRITE)]
)
def test_parse_permission(text: str, expected: Permission) -> None:
    assert parse_permission(text) is expected


@pytest.mark.parametrize("text", ["Read", "rw", "", "all"])
def test_parse_permission_refuses(text: str) -> None:
    with pytest.raises(ValidationError, match="permission must be read, write or readwrite"):
        parse_permission(text)


# -- settings -------------------------------------------------------------------------------------------------


def test_listener_default_and_set(store: Store) -> None:
    assert store.settings.listener() == (DEFAULT_HOST, DEFAULT_PORT) == ("127.0.0.1", 1883)
    store.settings.set_listener(" 0.0.0.0 ", 8883)
    assert store.settings.listener() == ("0.0.0.0", 8883)


@pytest.mark.parametrize(
    ("host", "port", "message"),
    [("", 1883, "must not be empty"), ("example.com", 1883, "not an IP address"), ("127.0.0.1", 70000, "port")],
)
def test_listener_refuses(store: Store, host: str, port: int, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        store.settings.set_listener(host, port)
    assert store.settings.listener() == ("127.0.0.1", 1883)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.10", False),
        ("example.com", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


@pytest.mark.parametrize(
    ("host", "effective"), [("127.0.0.1", True), ("::1", True), ("localhost", True), ("0.0.0.0", False)]
)
def test_anonymous_auto_follows_the_listen_address(store: Store, host: str, effective: bool) -> None:
    store.settings.set_listener(host, 1883)
    setting = store.settings.anonymous()
    assert setting.mode == "auto"
    assert setting.effective is effective
    assert store.settings.anonymous_policy() == AnonymousPolicy(enabled=effective, roles=())
    assert store.directory().anonymous.enabled is effective


def test_anonymous_auto_with_an_explicit_listen_host(store: Store) -> None:
    assert store.settings.anonymous().effective  # default listener 127.0.0.1
    assert not store.settings.anonymous("0.0.0.0").effective
    assert not store.directory("0.0.0.0").anonymous.enabled
    store.settings.set_listener("0.0.0.0", 1883)
    assert store.settings.anonymous("::1").effective


def test_anonymous_explicit_on_and_off(store: Store) -> None:
    store.roles.add("public")
    store.settings.set_listener("0.0.0.0", 1883)
    store.settings.set_anonymous(True, ("public", "public"))
    setting = store.settings.anonymous()
    assert (setting.mode, setting.roles, setting.effective) == ("on", ("public",), True)
    assert setting.describe() == "on (explicitly; roles public)"
    store.settings.set_listener("127.0.0.1", 1883)
    store.settings.set_anonymous(False)
    setting = store.settings.anonymous()
    assert (setting.mode, setting.effective) == ("off", False)  # off even on loopback
    assert setting.describe() == "off"
    store.settings.set_anonymous(True)  # back on: the roles given before still apply, access does not widen
    assert store.settings.anonymous_policy() == AnonymousPolicy(enabled=True, roles=("public",))
    store.settings.set_anonymous(True, ())  # no roles, said explicitly: every topic
    assert store.settings.anonymous_policy() == AnonymousPolicy(enabled=True, roles=())
    assert store.settings.anonymous().describe() == "on (explicitly; every topic, read and write)"


def test_anonymous_describe_auto(store: Store) -> None:
    assert store.settings.anonymous().describe() == "on (automatically, loopback only; every topic, read and write)"
    assert store.settings.anonymous("0.0.0.0").describe() == "off (automatically: the broker listens beyond loopback)"


def test_anonymous_unknown_role_is_refused(store: Store, announced: Recorder) -> None:
    with pytest.raises(NotFoundError, match="no role named 'ghost'"):
        store.settings.set_anonymous(True, ("ghost",))
    assert store.settings.anonymous().mode == "auto"
    assert announced.calls == []


def test_generic_settings_round_trip_json(store: Store) -> None:
    assert store.settings.get("x.missing", 42) == 42
    store.settings.set("x.value", {"a": [1, 2], "b": None})
    assert store.settings.get("x.value") == {"a": [1, 2], "b": None}


def test_directory_snapshot(store: Store, pw_hash: str) -> None:
    store.roles.add("r")
    store.roles.allow("r", "#", Permission.READ)
    store.users.add("lamp", pw_hash, ("r",))
    directory = store.directory()
    assert set(directory.users) == {"lamp"}
    assert directory.users["lamp"].roles == ("r",)
    assert directory.rules_of(("r",)) == (Rule("r", "#", Permission.READ),)
    assert directory.anonymous == AnonymousPolicy(enabled=True)


# -- the Auth log ---------------------------------------------------------------------------------------------


def _decision(client_id: str, allowed: bool = True, steps: tuple[str, ...] = ("one", "two")) -> Decision:
    code = ReasonCode.AUTHENTICATED if allowed else ReasonCode.BAD_PASSWORD
    return Decision(
        kind=Kind.CONNECT,
        allowed=allowed,
        reason=Reason(code, f"because of {client_id}"),
        client_id=client_id,
        username="lamp",
        method=Method.PASSWORD,
        address="10.0.0.1",
        steps=steps,
        connack=0 if allowed else 4,
    )


def test_auth_log_append_and_recent(store: Store, announced: Recorder) -> None:
    stored = store.auth_log.append(
        [entry_from_decision(_decision("c1"), when=100.0), entry_from_decision(_decision("c2", False), when=101.0)]
    )
    assert [e.id for e in stored] == [1, 2]
    recent = store.auth_log.recent()
    assert recent == stored
    first = recent[0]
    assert (first.time, first.kind, first.allowed, first.client_id, first.username, first.method) == (
        100.0,
        "CONNECT",
        True,
        "c1",
        "lamp",
        "password",
    )
    assert (first.address, first.topic) == ("10.0.0.1", None)
    assert (first.reason_code, first.reason) == ("authenticated", "because of c1")
    assert first.steps == ("one", "two")
    assert recent[1].allowed is False
    assert announced.calls == []  # the Auth log is data, not a configuration change
    assert store.auth_log.count() == 2


def test_auth_log_json_keys(store: Store) -> None:
    [entry] = store.auth_log.append([entry_from_decision(_decision("c1"), when=100.0)])
    data = entry.to_json()
    assert {"time", "kind", "allowed", "client_id", "username", "method", "address", "topic", "reason_code",
            "reason", "protocol"} <= set(data)
    assert data["steps"] == ["one", "two"]
    assert data["protocol"] is None


@pytest.mark.parametrize("protocol", ["3.1.1", "5", None])
def test_auth_log_keeps_the_protocol_of_each_decision(store: Store, protocol: str | None) -> None:
    decision = dataclasses.replace(_decision("c1"), protocol=protocol)
    [stored] = store.auth_log.append([entry_from_decision(decision, when=100.0)])
    assert stored.protocol == protocol
    assert store.auth_log.recent() == [stored]
    assert store.auth_log.query(LogFilter(client_id="c1"))[0].protocol == protocol
    assert stored.to_json()["protocol"] == protocol


def test_the_protocol_column_is_added_to_a_version_6_file_keeping_its_rows() -> None:
    db = sqlite3.connect(":memory:", isolation_level=None)
    for script in MIGRATIONS[:6]:
        db.executescript(script)
    db.execute("PRAGMA user_version = 6")
    db.execute("INSERT INTO auth_log (time, kind, allowed, client_id, reason_code, reason)"
               " VALUES (1.0, 'CONNECT', 0, 'c1', 'bad-password', 'wrong password')")
    assert migrate(db) == 6
    assert db.execute("SELECT client_id, protocol FROM auth_log").fetchall() == [("c1", None)]
    db.execute("INSERT INTO auth_log (time, kind, allowed, reason_code, reason, protocol)"
               " VALUES (2.0, 'CONNECT', 1, 'authenticated', 'ok', '5')")
    assert [row[0] for row in db.execute("SELECT protocol FROM auth_log ORDER BY id")] == [None, "5"]


def test_auth_log_recent_is_newest_oldest_first_with_paging(store: Store) -> None:
    store.auth_log.append(entry_from_decision(_decision(f"c{i}"), when=float(i)) for i in range(10))
    assert [e.client_id for e in store.auth_log.recent(limit=3)] == ["c7", "c8", "c9"]
    newest = store.auth_log.recent(limit=3)
    older = store.auth_log.recent(limit=3, before_id=newest[0].id)
    assert [e.client_id for e in older] == ["c4", "c5", "c6"]
    assert store.auth_log.recent(limit=5, before_id=2) == store.auth_log.recent(limit=100)[:1]


def test_auth_log_prune(store: Store) -> None:
    store.auth_log.append(entry_from_decision(_decision(f"c{i}"), when=float(i)) for i in range(10))
    store.auth_log.prune(keep=4)
    assert store.auth_log.count() == 4
    assert [e.client_id for e in store.auth_log.recent()] == ["c6", "c7", "c8", "c9"]
    store.auth_log.append([entry_from_decision(_decision("c10"), when=10.0)])
    store.prune(auth_log_keep=2)
    assert [e.client_id for e in store.auth_log.recent()] == ["c9", "c10"]


def test_auth_log_entry_from_decision_without_method() -> None:
    decision = Decision(Kind.CONNECT, False, Reason(ReasonCode.UNKNOWN_USER, "no user"), "c")
    entry = entry_from_decision(decision, when=1.0)
    assert entry == AuthLogEntry(0, 1.0, "CONNECT", False, "c", None, None, None, None, "unknown-user", "no user")


# -- change notification in this process ----------------------------------------------------------------------


def test_one_announcement_per_committed_write(store: Store, pw_hash: str, announced: Recorder) -> None:
    store.roles.add("r")
    store.users.add("lamp", pw_hash, ("r",))
    store.users.apply("lamp", StateAction.SUSPEND)
    store.settings.set_listener("0.0.0.0", 1884)  # two keys, one transaction
    store.settings.set_anonymous(True, ())
    assert announced.calls == [
        (role_change("r"),),
        (user_change("lamp"),),
        (user_change("lamp"),),
        (Change(ChangeKind.SETTINGS, "listener.host"), Change(ChangeKind.SETTINGS, "listener.port")),
        (Change(ChangeKind.SETTINGS, "anonymous.mode"), Change(ChangeKind.SETTINGS, "anonymous.roles")),
    ]


def test_nested_writes_announce_once_after_the_outer_commit(store: Store, announced: Recorder) -> None:
    with store.write(role_change("a")):
        store.roles.add("a")
        store.roles.add("b")
        assert announced.calls == []  # nothing before the commit
    assert announced.calls == [(role_change("a"), role_change("b"))]


def test_rolled_back_write_announces_and_writes_nothing(store: Store, pw_hash: str, announced: Recorder) -> None:
    def change_then_fail() -> None:
        with store.write(role_change("r")) as db:
            db.execute("INSERT INTO roles (name, created) VALUES ('r', 0)")
            store.users.add("lamp", pw_hash)  # a nested write is part of the same transaction
            raise RuntimeError("changed my mind")

    with pytest.raises(RuntimeError, match="changed my mind"):
        change_then_fail()
    assert announced.calls == []
    assert store.roles.names() == []
    assert store.users.find("lamp") is None
    assert store.connection.execute("SELECT COUNT(*) FROM change_log").fetchone()[0] == 0
    assert not store.connection.in_transaction
    store.roles.add("r")  # the store is usable again, and the old notices do not come back
    assert announced.calls == [(role_change("r"),)]


def test_failed_commit_rolls_back_and_the_store_stays_usable(store: Store, announced: Recorder) -> None:
    store.connection.executescript(
        "CREATE TABLE parent (id INTEGER PRIMARY KEY);"
        "CREATE TABLE child (parent INTEGER REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED);"
    )
    with pytest.raises(sqlite3.IntegrityError), store.write(role_change("x")) as db:
        db.execute("INSERT INTO child VALUES (42)")  # only checked at COMMIT
    assert not store.connection.in_transaction
    assert announced.calls == []
    store.roles.add("r")
    assert announced.calls == [(role_change("r"),)]
    assert store.connection.execute("SELECT COUNT(*) FROM child").fetchone()[0] == 0


def test_failing_listener_does_not_stop_the_others(
    store: Store, announced: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(changes: tuple[Change, ...]) -> None:
        raise ValueError("listener bug")

    store.subscribe(broken)
    late = Recorder()
    store.subscribe(late)
    with caplog.at_level(logging.ERROR, logger="mqttdesk.store.db"):
        store.roles.add("r")
    assert announced.calls == late.calls == [(role_change("r"),)]
    assert "store change listener failed" in caplog.text
    assert store.roles.names() == ["r"]  # the write itself stands


def test_unsubscribe(store: Store) -> None:
    recorder = Recorder()
    store.subscribe(recorder)
    store.unsubscribe(recorder)
    store.unsubscribe(recorder)  # twice is harmless
    store.roles.add("r")
    assert recorder.calls == []


# -- change notification across processes ---------------------------------------------------------------------


@pytest.fixture
def cli(store: Store, data_dir: Path) -> Iterator[Store]:
    """A second Store on the same file, as the CLI opens it while the GUI runs."""
    other = Store.open(data_dir)
    yield other
    other.close()


def test_external_write_is_seen_by_poll(store: Store, cli: Store, pw_hash: str, announced: Recorder) -> None:
    assert store.poll_external_changes() == ()
    cli.users.add("lamp", pw_hash)
    assert store.poll_external_changes() == (user_change("lamp"),)
    assert announced.calls == [(user_change("lamp"),)]
    assert store.users.get("lamp").state is CredentialState.INACTIVE  # and the data is there
    assert store.poll_external_changes() == ()
    assert len(announced.calls) == 1


def test_own_writes_are_not_echoed(store: Store, cli: Store, announced: Recorder) -> None:
    store.roles.add("mine")
    assert announced.calls == [(role_change("mine"),)]
    assert store.poll_external_changes() == ()
    assert cli.poll_external_changes() == (role_change("mine"),)
    cli.roles.add("theirs")
    assert store.poll_external_changes() == (role_change("theirs"),)
    assert cli.poll_external_changes() == ()


def test_external_change_is_not_lost_when_we_write_before_polling(store: Store, cli: Store) -> None:
    cli.roles.add("theirs")
    store.roles.add("mine")  # our write lands after theirs, before our next poll
    assert store.poll_external_changes() == (role_change("theirs"),)
    assert store.poll_external_changes() == ()


def test_several_external_writes_are_merged_in_one_poll(store: Store, cli: Store, pw_hash: str) -> None:
    cli.roles.add("r")
    cli.users.add("lamp", pw_hash, ("r",))
    cli.users.apply("lamp", StateAction.SUSPEND)
    cli.settings.set_anonymous(False)
    assert store.poll_external_changes() == (
        role_change("r"),
        user_change("lamp"),
        Change(ChangeKind.SETTINGS, "anonymous.mode"),
    )


def test_a_store_opened_later_does_not_replay_history(store: Store, data_dir: Path) -> None:
    store.roles.add("before")
    late = Store.open(data_dir)
    try:
        assert late.poll_external_changes() == ()
        store.roles.add("after")
        assert late.poll_external_changes() == (role_change("after"),)
    finally:
        late.close()


def test_rolled_back_external_write_is_not_announced(store: Store, cli: Store) -> None:
    cli.roles.add("r")
    with pytest.raises(AlreadyExistsError):
        cli.roles.add("r")
    assert store.poll_external_changes() == (role_change("r"),)
    assert store.poll_external_changes() == ()


def test_find_many_reads_records_with_their_roles_and_none_for_missing(tmp_path: Path) -> None:
    store = Store.open(tmp_path)
    secret = hash_password("pw", iterations=1000)
    store.roles.add("r")
    store.users.add("a", secret, ("r",))
    store.users.add("b", secret)
    found = store.users.find_many(["a", "b", "nobody", "a"])
    assert list(found) == ["a", "b", "nobody"]
    assert found["a"] is not None
    assert found["a"].roles == ("r",)
    assert found["b"] is not None
    assert found["b"].roles == ()
    assert found["nobody"] is None
    many = [f"u{n}" for n in range(1200)]  # more keys than one IN (...) query takes
    for name in many[:3]:
        store.users.add(name, secret)
    assert sum(record is not None for record in store.users.find_many(many).values()) == 3
    store.close()


def test_changes_still_reach_other_processes_after_the_feed_was_pruned(tmp_path: Path) -> None:
    """An hour of quiet prunes the change feed; the next CLI change must still reach the running instance."""
    instance, cli = Store.open(tmp_path), Store.open(tmp_path)
    seen: list[tuple[Change, ...]] = []
    instance.subscribe(seen.append)
    cli.roles.add("old")
    instance.poll_external_changes()
    with cli.write() as db:
        db.execute("UPDATE change_log SET time = 0")  # everything is more than an hour old now
    cli.prune()
    instance.poll_external_changes()
    seen.clear()
    cli.roles.add("new")
    assert instance.poll_external_changes() == (Change(ChangeKind.ROLE, "new"),)
    assert seen == [(Change(ChangeKind.ROLE, "new"),)]
    instance.close()
    cli.close()


def test_a_reused_name_starts_a_fresh_history_and_anonymous_roles_cannot_be_deleted(tmp_path: Path) -> None:
    store = Store.open(tmp_path)
    secret = hash_password("pw", iterations=1000)
    store.users.add("bob", secret)
    store.users.apply("bob", StateAction.REVOKE)
    store.users.delete("bob")
    store.users.add("bob", secret)
    assert [h.action for h in store.users.history("bob")] == ["create"]
    store.roles.add("guests")
    store.settings.set_anonymous(True, ("guests",))
    with pytest.raises(ValidationError, match="anonymous clients get role 'guests'"):
        store.roles.delete("guests")  # else anonymous clients would be left with no roles: every topic
    assert store.settings.anonymous().roles == ("guests",)
    store.close()


def test_token_issuers_keep_their_key_out_of_sight_and_check_their_roles(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "data")
    try:
        with pytest.raises(NotFoundError):
            store.token_issuers.add("lab", "k" * 40, hmac=True, roles=("nobody",))
        with pytest.raises(ValidationError):
            store.token_issuers.add("a:b", "k" * 40, hmac=True)
        store.roles.add("sensors")
        issuer = store.token_issuers.add("lab", "k" * 40, hmac=True, issuer="lab", roles=("sensors",))
        assert "k" * 40 not in repr(issuer)
        assert store.directory().token_issuers["lab"].roles == ("sensors",)
        with pytest.raises(AlreadyExistsError):
            store.token_issuers.add("lab", "k" * 40, hmac=True)
        store.token_issuers.delete("lab")
        assert store.token_issuers.list() == []
        with pytest.raises(NotFoundError):
            store.token_issuers.delete("lab")
    finally:
        store.close()


def _registered(client_id: str, address: str, pw_hash: str) -> Device:
    return Device(client_id, "", "fleet", "fleet", pw_hash, CredentialState.ACTIVE, (), 1.0, 1.0,
                  last_address=address)


def test_a_registration_batch_keeps_the_first_of_each_client_id(
        store: Store, pw_hash: str, announced: Recorder) -> None:
    store.devices.register([_registered("DVES_OLD", "10.0.0.1", pw_hash)])
    announced.calls.clear()
    store.devices.register([
        _registered("DVES_A", "10.0.0.2", pw_hash),
        _registered("DVES_OLD", "10.0.0.3", pw_hash),  # registered already: left as it was
        _registered("DVES_B", "10.0.0.4", pw_hash),
        _registered("DVES_A", "10.0.0.5", pw_hash),  # twice in one batch: the first one wins
    ])
    assert [d.client_id for d in store.devices.list()] == ["DVES_A", "DVES_B", "DVES_OLD"]
    assert store.devices.get("DVES_A").last_address == "10.0.0.2"
    assert store.devices.get("DVES_OLD").last_address == "10.0.0.1"
    assert [h.action for h in store.devices.history("DVES_A")] == ["registered via bootstrap 'fleet'"]
    assert len(store.devices.history("DVES_OLD")) == 1
    assert announced.calls == [(Change(ChangeKind.DEVICE, "DVES_A"), Change(ChangeKind.DEVICE, "DVES_B"))]


def test_a_batch_of_devices_all_registered_already_writes_and_announces_nothing(
        store: Store, pw_hash: str, announced: Recorder) -> None:
    store.devices.register([_registered("DVES_OLD", "10.0.0.1", pw_hash)])
    announced.calls.clear()
    store.devices.register([_registered("DVES_OLD", "10.0.0.9", pw_hash)])
    store.devices.register([])
    assert announced.calls == []
    assert len(store.devices.history("DVES_OLD")) == 1


def test_a_registration_batch_larger_than_one_lookup_is_looked_up_in_slices(
        store: Store, pw_hash: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A recorder's `flush()` hands over everything it holds: more clientIds than one statement may bind."""
    from mqttdesk.store import credentials_repo

    monkeypatch.setattr(credentials_repo, "_SQL_VARIABLES", 3)
    store.devices.register([_registered("DVES_3", "10.0.0.1", pw_hash), _registered("DVES_7", "10.0.0.1", pw_hash)])
    store.devices.register([_registered(f"DVES_{n}", "10.0.0.2", pw_hash) for n in range(10)])
    devices = {d.client_id: d for d in store.devices.list()}
    assert sorted(devices) == sorted(f"DVES_{n}" for n in range(10))
    assert devices["DVES_3"].last_address == "10.0.0.1"
    assert devices["DVES_7"].last_address == "10.0.0.1"
    assert devices["DVES_8"].last_address == "10.0.0.2"
