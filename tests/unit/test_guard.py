"""The login guard's rules (core/guard.py): throttling and bans of password guessing, flapping, the attack figure.

Pure: every call is given the time, so the tests step a clock instead of waiting.
"""

from __future__ import annotations

import re

import pytest

from mqttdesk.core import guard as guard_module
from mqttdesk.core.bans import Ban, BanKind, ban_value
from mqttdesk.core.errors import ValidationError
from mqttdesk.core.fixes import suggest_fix_for_entry
from mqttdesk.core.guard import GateKind, Guard, GuardSettings
from mqttdesk.core.model import AnonymousPolicy, Directory
from mqttdesk.core.reasons import ReasonCode

T0 = 1_795_000_000.0
ATTACKER, OTHER = "10.0.0.5", "10.0.0.9"
WRONG = ReasonCode.BAD_PASSWORD


def _fail(guard: Guard, address: str = ATTACKER, username: str | None = "lamp", now: float = T0) -> GateKind:
    """One attempt with a wrong password: what the gate said (a PASS is then settled as a wrong password)."""
    gate = guard.before_check(address, username, "c1", now)
    if gate.kind is GateKind.PASS:
        guard.settle(address, username, WRONG, False, now)
    return gate.kind


def test_three_failed_logins_throttle_the_address_and_a_throttled_attempt_is_not_checked() -> None:
    guard = Guard()
    assert [_fail(guard) for _ in range(3)] == [GateKind.PASS] * 3
    gate = guard.before_check(ATTACKER, "lamp", "c1", T0 + 0.5)
    assert gate.kind is GateKind.THROTTLED
    assert gate.refused
    assert gate.code is ReasonCode.THROTTLED
    assert gate.delay == 1.0  # the CONNACK waits; nothing is checked (no PASS: the caller computes no hash)
    assert gate.text.startswith("throttled: 4 failed logins in 60 s from 10.0.0.5; the password was not checked")


def test_the_delay_doubles_up_to_its_maximum_and_a_patient_client_gets_one_check_at_a_time() -> None:
    guard = Guard(GuardSettings(ban_after=100))
    for _ in range(3):
        _fail(guard)
    delays = [guard.before_check(ATTACKER, "lamp", "c1", T0).delay for _ in range(6)]
    assert delays == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    # 9 failures now, the last one's CONNACK 8 s after T0: the next check comes 8 s after that, one at a time
    assert guard.before_check(ATTACKER, "lamp", "c1", T0 + 15.9).kind is GateKind.THROTTLED  # (held till 23.9)
    later = T0 + 15.9 + 8.0 + 8.0
    first = guard.before_check(ATTACKER, "lamp", "c1", later)
    assert first.kind is GateKind.PASS
    assert first.suspect
    assert guard.before_check(ATTACKER, "lamp", "c1", later).kind is GateKind.THROTTLED  # the first is in flight


def test_concurrent_attempts_of_an_address_that_failed_count_while_their_checks_are_in_flight() -> None:
    guard = Guard()
    _fail(guard)
    kinds = [guard.before_check(ATTACKER, "lamp", f"c{n}", T0).kind for n in range(4)]
    assert kinds == [GateKind.PASS] * 2 + [GateKind.THROTTLED] * 2


def test_a_fleet_connecting_at_once_from_one_address_is_not_throttled_by_its_checks_in_flight() -> None:
    guard = Guard()
    assert {guard.before_check(ATTACKER, "fleet", f"DVES_{n}", T0).kind for n in range(250)} == {GateKind.PASS}


def test_ten_failed_logins_ban_the_address_saying_until_when_and_why() -> None:
    guard = Guard()
    kinds = [_fail(guard, now=T0 + n * 0.01) for n in range(10)]
    assert kinds[:3] == [GateKind.PASS] * 3
    assert kinds[3:9] == [GateKind.THROTTLED] * 6
    assert kinds[9] is GateKind.BANNED  # the tenth, refused unchecked, is the one that bans
    gate = guard.before_check(ATTACKER, "lamp", "c1", T0 + 1)
    assert gate.kind is GateKind.BANNED
    assert gate.delay == 0
    assert gate.code is ReasonCode.BANNED
    assert re.fullmatch(r"banned until \d\d:\d\d:\d\d: 10 failed logins in 60 s from 10\.0\.0\.5", gate.text)
    assert gate.ban is not None
    assert gate.ban.until == pytest.approx(T0 + 0.09 + 600)
    assert gate.ban.automatic
    assert gate.ban.kind is BanKind.ADDRESS
    # another address is not concerned, and the ban ends by itself
    assert guard.before_check(OTHER, "lamp", "c2", T0 + 1).kind is GateKind.PASS
    assert guard.before_check(ATTACKER, "lamp", "c1", T0 + 601).kind is GateKind.PASS


def test_a_banned_loopback_address_is_told_the_exact_unban_command() -> None:
    guard = Guard(GuardSettings(throttle_after=1, ban_after=1))
    _fail(guard, "127.0.0.5")
    text = guard.before_check("127.0.0.5", "lamp", "c1", T0).text
    assert "1 failed logins in 60 s from 127.0.0.5" in text
    assert "`mqttdesk ban remove 127.0.0.5`" in text
    assert "guard.exempt_loopback on" in text
    assert "mqttdesk ban remove" not in Guard(GuardSettings(throttle_after=1, ban_after=1)).before_check(
        ATTACKER, "lamp", "c1", T0).text


def test_exempt_loopback_never_throttles_or_bans_loopback_but_an_administrators_ban_applies() -> None:
    guard = Guard(GuardSettings(exempt_loopback=True))
    assert {_fail(guard, "127.0.0.5") for _ in range(30)} == {GateKind.PASS}
    assert {_fail(guard, "::1") for _ in range(30)} == {GateKind.PASS}
    guard.add_ban(Ban(BanKind.ADDRESS, "127.0.0.5", "by an administrator", T0, None, "cli"))
    assert guard.before_check("127.0.0.5", "lamp", "c1", T0).kind is GateKind.BANNED


def test_a_correct_login_forgives_the_typos_of_that_address_at_that_username() -> None:
    guard = Guard()
    _fail(guard)
    _fail(guard)
    _fail(guard, username="other")
    assert guard.before_check(ATTACKER, "lamp", "c1", T0).kind is GateKind.THROTTLED  # 3 + 1 now
    guard = Guard()
    _fail(guard)
    _fail(guard)
    guard.before_check(ATTACKER, "lamp", "c1", T0)
    guard.settle(ATTACKER, "lamp", ReasonCode.AUTHENTICATED, True, T0)
    assert [_fail(guard) for _ in range(3)] == [GateKind.PASS] * 3  # a clean slate at "lamp"


def test_failures_older_than_the_window_are_forgotten() -> None:
    guard = Guard()
    for _ in range(3):
        _fail(guard)
    assert guard.before_check(ATTACKER, "lamp", "c1", T0 + 61).kind is GateKind.PASS


def test_a_username_guessed_from_many_addresses_throttles_those_addresses_but_never_a_clean_one() -> None:
    guard = Guard(GuardSettings(user_throttle_after=20))
    for n in range(20):
        assert _fail(guard, f"10.1.0.{n}") is GateKind.PASS  # one guess each: no address reached 3
    gate = guard.before_check("10.1.0.0", "lamp", "c1", T0 + 0.5)
    assert gate.kind is GateKind.THROTTLED
    # (this attempt counted: it is a failed login of its own)
    assert "21 failed logins at username 'lamp' in 60 s, 2 of them from 10.1.0.0" in gate.text
    owner = guard.before_check("10.2.0.1", "lamp", "lamp-phone", T0 + 0.5)
    assert owner.kind is GateKind.PASS
    assert not owner.suspect


def test_a_pass_from_an_address_that_failed_lately_is_suspect() -> None:
    guard = Guard()
    assert not guard.before_check(ATTACKER, "lamp", "c1", T0).suspect
    guard.settle(ATTACKER, "lamp", WRONG, False, T0)
    assert guard.before_check(ATTACKER, "lamp", "c1", T0).suspect


def test_checks_without_an_outcome_only_release_their_place() -> None:
    guard = Guard()
    for _ in range(10):
        guard.before_check(ATTACKER, "lamp", "c1", T0)
        guard.settle(ATTACKER, "lamp", None, False, T0)  # e.g. the client left before its turn
        guard.before_check(ATTACKER, "lamp", "c1", T0)
        guard.settle(ATTACKER, "lamp", ReasonCode.CLIENT_ID_IN_USE, False, T0)  # not a failed login
    assert guard.before_check(ATTACKER, "lamp", "c1", T0).kind is GateKind.PASS


def test_an_ipv6_guesser_is_counted_and_banned_by_its_64() -> None:
    guard = Guard(GuardSettings(throttle_after=2, ban_after=2))
    _fail(guard, "2001:db8:1:2::1")
    _fail(guard, "2001:db8:1:2::2")
    gate = guard.before_check("2001:db8:1:2::99", "lamp", "c1", T0)
    assert gate.kind is GateKind.BANNED
    assert "from 2001:db8:1:2::/64" in gate.text
    assert guard.before_check("2001:db8:1:3::1", "lamp", "c1", T0).kind is GateKind.PASS


def test_bans_of_usernames_and_client_ids_and_lifting_one_forgets_its_failures() -> None:
    guard = Guard()
    guard.set_bans([Ban(BanKind.USERNAME, "lamp", "stolen", T0, None, "cli"),
                    Ban(BanKind.CLIENT_ID, "DVES_1", "flapping", T0, T0 + 10, "automatic")])
    assert guard.before_check(OTHER, "lamp", "x", T0).kind is GateKind.BANNED
    assert guard.before_check(OTHER, "fridge", "DVES_1", T0 + 5).kind is GateKind.BANNED
    assert guard.before_check(OTHER, "fridge", "DVES_1", T0 + 11).kind is GateKind.PASS  # expired
    assert [ban.value for ban in guard.bans(T0 + 11)] == ["lamp"]
    guard = Guard()
    for n in range(10):
        _fail(guard, now=T0 + n)
    assert guard.remove_ban(BanKind.ADDRESS, ATTACKER) is not None
    assert [_fail(guard, now=T0 + 20) for _ in range(3)] == [GateKind.PASS] * 3


def test_flapping_is_slowed_then_banned_by_client_id() -> None:
    guard = Guard()
    gates = []
    for n in range(15):
        gate = guard.before_session("DVES_1", False, ATTACKER, T0 + n)
        gates.append(gate)
        if not gate.refused:
            guard.session_opened("DVES_1", False, ATTACKER, T0 + n)
    assert [g.kind for g in gates[:10]] == [GateKind.PASS] * 10
    assert [(g.kind, g.delay) for g in gates[10:14]] == [(GateKind.SLOWED, d) for d in (1.0, 2.0, 4.0, 8.0)]
    assert gates[10].text.startswith("flapping: 11 connects in 60 s of clientId 'DVES_1' from 10.0.0.5")
    banned = gates[14]
    assert banned.kind is GateKind.BANNED
    assert banned.new_ban
    assert banned.ban is not None
    assert banned.ban.kind is BanKind.CLIENT_ID
    assert banned.ban.value == "DVES_1"
    assert "flapping: 15 connects in 60 s of clientId 'DVES_1'" in banned.text
    assert banned.ban.until == T0 + 14 + 300
    assert guard.before_check(OTHER, "lamp", "DVES_1", T0 + 20).kind is GateKind.BANNED  # from anywhere
    assert guard.before_session("DVES_2", False, ATTACKER, T0 + 20).kind is GateKind.PASS


def test_a_connect_counts_for_the_window_only_and_the_second_and_third_add_up() -> None:
    guard = Guard(GuardSettings(flap_slow_after=1, flap_ban_after=5))  # the window is 60 s
    guard.session_opened("DVES_1", False, ATTACKER, T0)
    assert guard.before_session("DVES_1", False, ATTACKER, T0 + 59).kind is GateKind.SLOWED  # the 2nd within 60 s
    assert guard.before_session("DVES_1", False, ATTACKER, T0 + 60).kind is GateKind.PASS  # the first has left it
    guard.session_opened("DVES_1", False, ATTACKER, T0 + 61)  # the stale first is forgotten, not counted
    assert "flapping: 2 connects" in guard.before_session("DVES_1", False, ATTACKER, T0 + 62).text
    guard.session_opened("DVES_1", False, ATTACKER, T0 + 62)
    guard.session_opened("DVES_1", False, ATTACKER, T0 + 63)
    assert "flapping: 4 connects" in guard.before_session("DVES_1", False, ATTACKER, T0 + 64).text
    assert guard.before_session("DVES_1", False, ATTACKER, T0 + 122).kind is GateKind.SLOWED  # 62 and 63 are left
    assert guard.before_session("DVES_1", False, ATTACKER, T0 + 124).kind is GateKind.PASS


def test_flapping_with_assigned_client_ids_is_counted_by_address_and_only_accepted_connects_count() -> None:
    guard = Guard(GuardSettings(flap_slow_after=1, flap_ban_after=3))
    for _ in range(20):
        assert guard.before_session("stolen-id", False, OTHER, T0).kind is GateKind.PASS  # never opened: not counted
    for n in range(2):
        guard.session_opened(f"mqttdesk-{n}", True, ATTACKER, T0)
    gate = guard.before_session("mqttdesk-9", True, ATTACKER, T0)
    assert gate.kind is GateKind.BANNED
    assert gate.ban is not None
    assert gate.ban.kind is BanKind.ADDRESS
    assert "from 10.0.0.5 (clients with assigned clientIds)" in gate.text


def test_the_attack_figure_counts_refusals_and_addresses_of_the_last_window() -> None:
    guard = Guard(GuardSettings(attack_after=20, ban_after=100))
    for n in range(19):
        _fail(guard, f"10.1.0.{n % 4}")
    assert guard.attack(T0) is None
    _fail(guard, "10.1.0.9")
    attack = guard.attack(T0)
    assert attack is not None
    assert (attack.refusals, attack.addresses) == (20, 5)
    assert attack.sentence() == "Under a password-guessing attack: 20 refusals from 5 addresses in the last minute"
    assert guard.attack(T0 + 61) is None


def test_what_is_remembered_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(guard_module, "MAX_TRACKED", 50)
    monkeypatch.setattr(guard_module, "MAX_REFUSALS_KEPT", 100)
    guard = Guard(GuardSettings(attack_after=1))
    for n in range(1000):
        _fail(guard, f"10.{n // 250}.{n % 250}.1", username=f"user-{n}", now=T0)
        guard.session_opened(f"client-{n}", False, f"10.9.{n % 250}.1", T0)
    assert len(guard._sources) <= 50
    assert len(guard._usernames) <= 50
    assert len(guard._connects) <= 50
    attack = guard.attack(T0)
    assert attack is not None
    assert attack.refusals == 100


@pytest.mark.parametrize(("changes", "message"), [
    ({"throttle_after": 0}, "guard.throttle_after must be between 1 and 1000000"),
    ({"ban_after": 2}, "guard.ban_after (2) must not be below guard.throttle_after (3)"),
    ({"flap_ban_after": 10}, "guard.flap_ban_after (10) must be above guard.flap_slow_after (10)"),
    ({"window": 0}, "guard.window must be between 1 and 86400 seconds"),
    ({"max_delay": 0.5}, "guard.max_delay (0.5 s) must not be below guard.delay (1 s)"),
])
def test_settings_that_make_no_sense_are_refused(changes: dict[str, float], message: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)):
        GuardSettings(**changes)  # type: ignore[arg-type]


@pytest.mark.parametrize(("kind", "value", "stored"), [
    (BanKind.ADDRESS, " 127.0.0.1 ", "127.0.0.1"),
    (BanKind.ADDRESS, "2001:DB8::1", "2001:db8::1"),
    (BanKind.ADDRESS, "2001:db8:1:2::7/64", "2001:db8:1:2::/64"),
    (BanKind.USERNAME, "lamp", "lamp"),
    (BanKind.CLIENT_ID, "DVES_1", "DVES_1"),
])
def test_ban_values_are_normalised(kind: BanKind, value: str, stored: str) -> None:
    assert ban_value(kind, value) == stored


@pytest.mark.parametrize("value", ["lamp", "300.1.1.1", "10.0.0.0/8", ""])
def test_an_address_ban_needs_an_address(value: str) -> None:
    with pytest.raises(ValidationError):
        ban_value(BanKind.ADDRESS, value)


def test_a_ban_travels_the_control_channel_unchanged() -> None:
    ban = Ban(BanKind.CLIENT_ID, "DVES_1", "flapping: 15 connects in 60 s", T0, None, "automatic")
    assert Ban.from_wire(ban.to_wire()) == ban
    assert ban.sentence(T0) == "banned until removed: flapping: 15 connects in 60 s"


@pytest.mark.parametrize(("code", "words"), [(ReasonCode.BANNED, "lift its ban"),
                                             (ReasonCode.THROTTLED, "its next password is checked")])
def test_a_banned_or_throttled_entry_suggests_what_to_do(code: ReasonCode, words: str) -> None:
    nobody = Directory(users={}, roles={}, anonymous=AnonymousPolicy(enabled=False))
    fix = suggest_fix_for_entry("CONNECT", code.value, "c1", "lamp", None, nobody)
    assert fix is not None
    assert words in fix.description
    assert fix.action is None  # advice: nothing is changed by a button
    assert (fix.command == "mqttdesk ban list") is (code is ReasonCode.BANNED)


def test_an_address_with_a_correct_login_lately_is_trusted_until_it_fails() -> None:
    guard = Guard()
    assert not guard.before_check(OTHER, "lamp", "c1", T0).trusted
    guard.settle(OTHER, "lamp", ReasonCode.AUTHENTICATED, True, T0)
    assert guard.before_check(OTHER, "alice", "c2", T0 + 3600).trusted  # another user from there: first in line
    guard.settle(OTHER, "alice", WRONG, False, T0 + 3600)
    gate = guard.before_check(OTHER, "alice", "c2", T0 + 3600)
    assert not gate.trusted
    assert gate.suspect
    assert not Guard().before_check(OTHER, "lamp", "c1", T0 + 2 * 86400).trusted


def test_the_connects_forgotten_first_are_of_the_clientids_seen_longest_ago(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(guard_module, "MAX_TRACKED", 10)
    guard = Guard()
    for name in "abcdefghij":
        guard.session_opened(name, False, "10.0.0.1", T0)
    guard.session_opened("a", False, "10.0.0.1", T0 + 1)  # seen again: now the most recent
    guard.session_opened("k", False, "10.0.0.1", T0 + 2)  # one too many: the oldest tenth and more go
    assert list(guard._connects) == [*"defghij", "a", "k"]
    assert guard._connects["a"] == [T0, T0 + 1]
