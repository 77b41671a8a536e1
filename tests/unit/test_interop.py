"""The pure formats of interop/: Mosquitto's files, dynamic-security JSON, EMQX's users and rules, the import plan."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
from pathlib import Path

import argon2
import pytest

from mqttdesk.core.acl import Effect, Permission, Rule
from mqttdesk.core.errors import AlreadyExistsError, ValidationError
from mqttdesk.core.model import AnonymousPolicy, AuthMode, Bootstrap, Directory, Role, User
from mqttdesk.core.passwords import hash_password, hash_scheme, text_salt, validate_hash, verify_password
from mqttdesk.core.states import CredentialState
from mqttdesk.interop.dynsec import export_dynsec, parse_dynsec
from mqttdesk.interop.emqx import export_emqx
from mqttdesk.interop.mosquitto import Listener, export_mosquitto, parse_acl_file, parse_password_file
from mqttdesk.interop.plan import ImportPlan, PlannedUser, plan_dynsec, plan_mosquitto
from mqttdesk.store.db import Store
from mqttdesk.store.interop import apply_plan

FAST = 1000


def sha512_hash(password: str, salt: bytes) -> str:
    """Mosquitto's older `$6$` format: base64 salt, base64 SHA-512(password + salt)."""
    digest = hashlib.sha512(password.encode() + salt).digest()
    return f"$6${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def user(name: str, roles: tuple[str, ...] = (), *, state: CredentialState = CredentialState.ACTIVE,
         password_hash: str | None = None, auth: AuthMode = AuthMode.PASSWORD) -> User:
    return User(name, password_hash or hash_password("pw", iterations=FAST), state, roles, 0.0, 0.0, auth=auth)


def directory(*users: User, roles: tuple[Role, ...] = (), anonymous: bool = False,
              bootstraps: tuple[str, ...] = ()) -> Directory:
    return Directory(users={u.name: u for u in users}, roles={r.name: r for r in roles},
                     anonymous=AnonymousPolicy(enabled=anonymous),
                     bootstraps={b: Bootstrap(b, hash_password("b", iterations=FAST), CredentialState.ACTIVE, (),
                                              False, 0.0, 0.0) for b in bootstraps})


LAMPS = Role("lamps", (Rule("lamps", "home/%u/#", Permission.READWRITE),
                       Rule("lamps", "home/%u/secret/#", Permission.READWRITE, Effect.DENY),
                       Rule("lamps", "tele/%c/#", Permission.WRITE),
                       Rule("lamps", "logs/#", Permission.WRITE, Effect.DENY)))


# -- password hashes -----------------------------------------------------------------------------


def test_sha512_hashes_verify() -> None:
    encoded = sha512_hash("old secret", b"0123456789ab")
    assert hash_scheme(encoded) == "sha512"
    assert verify_password("old secret", encoded)
    assert not verify_password("other", encoded)


def test_argon2id_hashes_verify() -> None:
    encoded = argon2.PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash("new secret")
    assert validate_hash(encoded) == encoded
    assert verify_password("new secret", encoded)
    assert not verify_password("other", encoded)


@pytest.mark.parametrize("encoded", ["$6$not base64$x", "$6$YWJj$YWJj", "$argon2id$v=19$garbage", "$2b$10$bcrypt",
                                     "$argon2i$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"])
def test_other_or_malformed_hashes_are_refused_and_never_verify(encoded: str) -> None:
    with pytest.raises(ValidationError):
        validate_hash(encoded)
    assert not verify_password("x", encoded)


def test_new_salts_are_text_so_emqx_can_take_the_hash() -> None:
    from mqttdesk.core.passwords import parse_hash

    _, salt, _ = parse_hash(hash_password("pw", iterations=FAST))
    assert len(salt) == 12
    assert text_salt(salt) == salt.decode("ascii")
    assert text_salt(bytes(range(12))) is None


# -- Mosquitto files -----------------------------------------------------------------------------


def test_mosquitto_export_binds_patterns_and_puts_denies_first() -> None:
    found = export_mosquitto(directory(user("lamp", ("lamps",)), roles=(LAMPS,)), Listener("127.0.0.1", 1883), "/x")
    acl = found.files["acl_file"].splitlines()
    section = acl[acl.index("user lamp") + 1:]
    assert section[:3] == ["topic deny home/lamp/secret/#", "topic deny logs/#", "topic readwrite home/lamp/#"]
    assert "pattern write tele/%c/#" in acl  # every user has the role: one pattern line for all
    gaps = {g.subject: g.text for g in found.report.gaps}
    assert "denies reading and writing alike" in gaps["user 'lamp'"]  # 'deny write logs/#' got stricter
    assert found.files["mosquitto.conf"].splitlines()[2:6] == [
        "allow_anonymous false", "password_file /x/password_file", "acl_file /x/acl_file", ""]


def test_certificate_users_get_a_tls_listener_taking_the_cn_as_username() -> None:
    from mqttdesk.interop.mosquitto import TlsListener

    tls = TlsListener(8883, "/d/pki/ca.crt", "/d/pki/server.crt", "/d/pki/server.key")
    found = export_mosquitto(directory(user("badge", auth=AuthMode.CERTIFICATE)),
                             Listener("127.0.0.1", 1883, tls), "/x")
    conf = found.files["mosquitto.conf"].splitlines()
    tls_part = conf[conf.index("listener 8883 127.0.0.1"):]
    assert tls_part == ["listener 8883 127.0.0.1", "cafile /d/pki/ca.crt", "certfile /d/pki/server.crt",
                        "keyfile /d/pki/server.key", "require_certificate true", "use_identity_as_username true"]
    assert found.files["password_file"] == ""  # its login is the certificate
    assert "user badge" in found.files["acl_file"]


def test_a_pattern_rule_of_some_users_only_is_reported_not_widened() -> None:
    found = export_mosquitto(directory(user("lamp", ("lamps",)), user("fridge"), roles=(LAMPS,)),
                             Listener("127.0.0.1", 1883), "/x")
    assert "pattern" not in found.files["acl_file"].replace("'pattern'", "")
    assert any("would apply to every client" in g.text for g in found.report.gaps)


def test_what_a_password_file_cannot_hold_is_reported() -> None:
    argon = argon2.PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash("pw")
    users = (user("a:b"), user("argon", password_hash=argon), user("gone", state=CredentialState.REVOKED),
             user("cert", auth=AuthMode.CERTIFICATE), user("ok"))
    found = export_mosquitto(directory(*users, bootstraps=("plugs",)), Listener("127.0.0.1", 1883), "/x")
    assert [line.split(":")[0] for line in found.files["password_file"].splitlines()] == ["ok"]
    subjects = " ".join(g.line() for g in found.report.gaps)
    for expected in ("user 'a:b': left out", "user 'argon': password left out", "user 'gone': left out",
                     "bootstrap credential 'plugs'", "user 'cert': logs in with a client certificate"):
        assert expected in subjects


def test_password_file_is_read_or_refused_with_the_line_number() -> None:
    encoded = hash_password("pw", iterations=FAST)
    assert parse_password_file(f"# comment\n\nlamp:{encoded}\n") == [("lamp", encoded)]
    with pytest.raises(ValidationError, match="line 2 .user 'bad'."):
        parse_password_file(f"lamp:{encoded}\nbad:plaintext\n")
    with pytest.raises(ValidationError, match="appears twice"):
        parse_password_file(f"lamp:{encoded}\nlamp:{encoded}\n")


def test_acl_file_sections_and_access_words() -> None:
    lines = parse_acl_file("topic read public/#\nuser lamp\ntopic home/lamp/#\ntopic deny home/lamp/s\n"
                           "pattern write tele/%c/#\n")
    assert [(x.user, x.pattern, x.access, x.topic_filter) for x in lines] == [
        (None, False, "read", "public/#"), ("lamp", False, "readwrite", "home/lamp/#"),
        ("lamp", False, "deny", "home/lamp/s"), (None, True, "write", "tele/%c/#")]
    with pytest.raises(ValidationError, match="line 1"):
        parse_acl_file("topicc read x\n")


def test_mosquitto_import_plan_roles_and_clashes() -> None:
    encoded = hash_password("pw", iterations=FAST)
    acl = parse_acl_file("topic read public/#\nuser lamp\ntopic home/lamp/#\npattern write tele/%c/#\n")
    existing = directory(user("lamp"), roles=(Role("lamp"),))
    plan = plan_mosquitto([("lamp", encoded), ("fridge", encoded)], acl, existing)
    assert {r.name: len(r.rules) for r in plan.roles} == {"mosquitto-anonymous": 1, "lamp": 1,
                                                         "mosquitto-patterns": 1}
    assert [(u.name, u.roles) for u in plan.users] == [("lamp", ("lamp", "mosquitto-patterns")),
                                                      ("fridge", ("mosquitto-patterns",))]
    assert plan.clashes == ["role 'lamp' exists already", "user 'lamp' exists already"]
    assert "clash: user 'lamp' exists already" in plan.lines()


# -- dynamic security ----------------------------------------------------------------------------


def test_dynsec_export_puts_each_roles_denies_in_a_role_checked_first() -> None:
    lamp_user = user("lamp", ("lamps",))
    data, report = export_dynsec(directory(lamp_user, user("old", ("lamps",), state=CredentialState.SUSPENDED),
                                           roles=(LAMPS,)))
    clients = {c["username"]: c for c in data["clients"]}
    priorities = {r["rolename"]: r["priority"] for r in clients["lamp"]["roles"]}
    # lamps' own allow is a %u rule (bound in user:lamp) and tele/%c/# cannot be carried: only its deny is shared
    assert priorities == {"deny:lamps": 1, "user:lamp": 0, "deny:user:lamp": 1}
    assert clients["old"]["disabled"] is True
    roles = {r["rolename"]: r["acls"] for r in data["roles"]}
    assert {(a["acltype"], a["topic"], a["allow"]) for a in roles["deny:lamps"]} == {
        ("publishClientSend", "logs/#", False)}
    assert any("substitutes no %c" in g.text for g in report.gaps)  # tele/%c/# cannot be carried
    lamp = clients["lamp"]
    assert f"$7${lamp['iterations']}${lamp['salt']}${lamp['password']}" == lamp_user.password_hash  # as stored


def test_dynsec_import_merges_deny_roles_and_flattens_groups() -> None:
    data = {"roles": [{"rolename": "lamps", "acls": [
        {"acltype": "publishClientSend", "topic": "home/#", "allow": True},
        {"acltype": "publishClientReceive", "topic": "home/#", "allow": True},
        {"acltype": "subscribePattern", "topic": "home/#", "allow": True}]},
        {"rolename": "deny:lamps", "acls": [{"acltype": "publishClientSend", "topic": "home/s", "allow": False}]}],
        "groups": [{"groupname": "g", "roles": [{"rolename": "lamps"}]}],
        "clients": [{"username": "lamp", "password": base64.b64encode(bytes(64)).decode(),
                     "salt": base64.b64encode(b"salt").decode(), "iterations": 5, "groups": [{"groupname": "g"}],
                     "disabled": True}]}
    data["clients"][0]["clientid"] = "lamp-1"
    roles, users, report = parse_dynsec(data)
    assert users[0]["reserved"] == ("lamp-1",)
    assert set(roles["lamps"]) == {Rule("lamps", "home/#", Permission.READWRITE),
                                   Rule("lamps", "home/s", Permission.WRITE, Effect.DENY)}
    assert users[0]["roles"] == ("lamps",)
    assert users[0]["suspended"] is True
    assert any("flattened" in g.text for g in report.gaps)
    with pytest.raises(ValidationError, match="unknown role 'nope'"):
        plan_dynsec({"clients": [{"username": "x", "roles": [{"rolename": "nope"}]}]}, directory())


# -- EMQX ----------------------------------------------------------------------------------------


def test_emqx_users_carry_the_same_pbkdf2_value_and_binary_salts_are_named() -> None:
    binary = hash_password("pw", iterations=FAST, salt=bytes(range(12)))
    files, report = export_emqx(directory(user("lamp", ("lamps",)), user("imported", password_hash=binary),
                                          user("legacy", password_hash=sha512_hash("pw", b"salt")), roles=(LAMPS,)))
    [row] = json.loads(files["users.json"])
    assert row["user_id"] == "lamp"
    assert row["password_hash"] == hashlib.pbkdf2_hmac("sha512", b"pw", row["salt"].encode(), FAST, 64).hex()
    assert f"iterations = {FAST}" in files["authentication.conf"]
    assert files["users.csv"].splitlines()[1] == f"lamp,{row['password_hash']},{row['salt']},false"
    gaps = {g.subject: g.text for g in report.gaps}
    assert gaps["user 'imported'"].startswith("must set a new password")
    assert gaps["user 'legacy'"].startswith("must set a new password")
    acl = files["acl.conf"].splitlines()
    assert acl[1:] == ['{deny, {username, "lamp"}, all, ["home/lamp/secret/#"]}.',
                       '{deny, {username, "lamp"}, publish, ["logs/#"]}.',
                       '{allow, {username, "lamp"}, all, ["home/lamp/#"]}.',
                       '{allow, {username, "lamp"}, publish, ["tele/${clientid}/#"]}.', "{deny, all}."]


# -- applying a plan -----------------------------------------------------------------------------


def test_a_plan_that_fails_halfway_leaves_nothing_behind(tmp_path: Path) -> None:
    good = hash_password("pw", iterations=FAST)
    plan = ImportPlan(roles=[Role("lamps", (Rule("lamps", "home/#", Permission.READ),))],
                      users=[PlannedUser("first", good, ("lamps",)), PlannedUser("second", "not a hash", ())])
    with contextlib.closing(Store.open(tmp_path / "data")) as store:
        with pytest.raises(ValidationError):
            apply_plan(store, plan)
        assert store.users.list() == []
        assert store.roles.list() == []
        clashing = ImportPlan(users=[PlannedUser("first", good, ())], clashes=["user 'first' exists already"])
        with pytest.raises(AlreadyExistsError, match="nothing imported"):
            apply_plan(store, clashing)
        apply_plan(store, ImportPlan(users=[PlannedUser("first", good, (), suspended=True)]))
        assert store.users.get("first").state is CredentialState.SUSPENDED


# -- the auth service's answers ------------------------------------------------------------------


def test_session_acl_binds_every_pattern_and_fails_closed_on_an_unsafe_value() -> None:
    from mqttdesk.core.decision import Grant
    from mqttdesk.core.model import CredentialKind, CredentialRef, Method
    from mqttdesk.interop.broker_hooks import session_acl

    found = directory(user("lamp", ("lamps",)), roles=(LAMPS,))
    grant = Grant(Method.PASSWORD, CredentialRef(CredentialKind.USER, "lamp"), "lamp", "a/b")
    # clientId 'a/b' cannot stand for %c: the allow rule on tele/%c/# is left out, as mqttdesk leaves it out
    assert session_acl(grant, found) == [
        {"permission": "deny", "action": "all", "topic": "home/lamp/secret/#"},
        {"permission": "deny", "action": "publish", "topic": "logs/#"},
        {"permission": "allow", "action": "all", "topic": "home/lamp/#"}]
    anonymous = Grant(Method.ANONYMOUS, CredentialRef(CredentialKind.ANONYMOUS, ""), None, "x")
    assert session_acl(anonymous, directory(anonymous=True)) == [{"permission": "allow", "action": "all",
                                                                   "topic": "#"}]


def test_automatic_anonymous_access_is_not_exported(tmp_path: Path) -> None:
    """On automatically while mqttdesk listens on loopback: about its own listener, not another broker's."""
    from mqttdesk.store.interop import export_files

    with contextlib.closing(Store.open(tmp_path / "data")) as store:
        report = export_files(store, "mosquitto", tmp_path / "out")
        assert "allow_anonymous false" in (tmp_path / "out" / "mosquitto.conf").read_text()
        assert any(g.subject == "anonymous clients" and "automatically" in g.text for g in report.gaps)
        store.settings.set_anonymous(True)
        export_files(store, "mosquitto", tmp_path / "out")
        assert "allow_anonymous true" in (tmp_path / "out" / "mosquitto.conf").read_text()
        assert "topic readwrite #" in (tmp_path / "out" / "acl_file").read_text()
