"""The login guard with a real broker: password guessing from many loopback addresses is throttled, then banned,
while a correct login from elsewhere goes through; flapping clientIds are slowed, then banned; bans outlive a
restart and are listed, added and lifted with `mqttdesk ban`.

Guessers are raw MQTT 3.1.1 sockets bound to their own 127.x.y.z source address (any of them can be bound on
Linux). Delays are shortened by the `guard.delay` setting so the tests run in seconds; every loop is bounded in
count and in time, and nothing waits a fixed time: tests wait for events or answers with deadlines.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import replace
from pathlib import Path

from mqttdesk.core.acl import Permission
from mqttdesk.core.bans import Ban, BanKind
from mqttdesk.store.db import Store
from tests.integration.conftest import fast_hash
from tests.integration.harness import Instance, run_cli
from tests.integration.mqtt_client import TestClient
from tests.integration.raw_mqtt import ConnectionClosed, RawClient
from tests.integration.raw_mqtt5 import CONNACK, Raw5, connect_packet

GUESSERS = 20
FLOOD_SECONDS = 30.0  # the flood's time limit; it ends much sooner, once every guesser is banned
FAST = {"delay": 0.05, "max_delay": 0.2}  # the same rules, with delays short enough for a test


def _guard(admin: Store, instance: Instance, **changes: object) -> None:
    admin.settings.set_guard(replace(admin.settings.guard(), **changes))  # type: ignore[arg-type]
    instance.sync()


def _user(admin: Store, name: str = "lamp", password: str = "s3cret", *, instance: Instance | None = None) -> None:
    if "lamps" not in admin.roles.names():
        admin.roles.add("lamps")
        admin.roles.allow("lamps", "home/#", Permission.READWRITE)
    admin.users.add(name, fast_hash(password), ("lamps",))
    if instance is not None:
        instance.sync()


def _attempt(instance: Instance, source: str, client_id: str, password: str, username: str = "lamp") -> int:
    with RawClient(instance.port, source=source) as raw:
        return raw.connect(client_id, username=username, password=password.encode()).return_code


def _entries(instance: Instance, reason_code: str) -> list[str]:
    instance.flush_log()
    return [e.reason for e in instance.call(instance.store.auth_log.recent, 2000) if e.reason_code == reason_code]


def test_a_guessing_flood_from_20_addresses_is_banned_and_never_holds_up_a_correct_login(
        admin: Store, instance: Instance) -> None:
    _user(admin)
    _user(admin, "alice", "alice-pw")
    _guard(admin, instance, **FAST)
    verifier = instance.service.pipeline.verifier
    hashes_before = verifier.hashes_computed  # (fast hashes here: what counts is how many are computed)
    refusals = threading.Semaphore(0)
    stop = threading.Event()
    banned = {f"127.0.1.{n + 1}": threading.Event() for n in range(GUESSERS)}
    stop_at = time.monotonic() + FLOOD_SECONDS
    codes: dict[str, list[int]] = {source: [] for source in banned}

    def guess(source: str) -> None:
        for n in range(300):  # bounded in count and in time; a banned guesser goes on, as an attacker would
            if stop.is_set() or time.monotonic() > stop_at:
                return
            code = _attempt(instance, source, f"guess-{source}", f"wrong-{source}-{n}")
            codes[source].append(code)
            refusals.release()
            # 5: throttled or banned (3.1.1 has neither: not authorised); which one, the guard says
            if code == 5 and instance.call(instance.service.guard.rules.ban_of, source, None, None, time.time()):
                banned[source].set()

    threads = [threading.Thread(target=guess, args=(source,), daemon=True) for source in banned]
    for thread in threads:
        thread.start()
    try:
        for _ in range(GUESSERS * 2):  # the flood is under way: forty refusals
            assert refusals.acquire(timeout=FLOOD_SECONDS)
        # a correct login from another address, while the guessers are at it
        legit = TestClient("alice-phone", instance.port, username="alice", password="alice-pw", source="127.0.0.3")
        try:
            assert legit.connect() == 0
        finally:
            legit.close()
        for _ in range(GUESSERS):  # ... and they still were after its CONNACK
            assert refusals.acquire(timeout=FLOOD_SECONDS)
        for source, event in banned.items():
            assert event.wait(FLOOD_SECONDS), f"{source} was never banned: {codes[source]}"
    finally:
        stop.set()
        for thread in threads:
            thread.join(FLOOD_SECONDS)
    for answered in codes.values():
        # a few wrong passwords checked (fewer once "lamp" has 20 failures: its guessers are throttled then), then
        # throttled (not checked), then banned
        assert answered[0] == 4, answered
        assert answered.count(4) < 10, answered
        assert answered[-1] == 5, answered
    # a throttled or banned attempt costs no hash: every hash computed is a checked wrong password (or alice's)
    checked = sum(answered.count(4) for answered in codes.values())
    assert verifier.hashes_computed - hashes_before == checked + 1
    assert sum(len(answered) for answered in codes.values()) > 2 * checked  # most of the flood was never hashed
    bans = {ban.value: ban for ban in instance.service.bans()}
    assert set(banned) <= set(bans)
    assert re.fullmatch(r"\d+ failed logins in 60 s from 127\.0\.1\.1", bans["127.0.1.1"].reason)
    throttled = _entries(instance, "throttled")
    assert throttled
    assert all(t.startswith("throttled: ") and "the password was not checked" in t for t in throttled)
    # banned, refused before anything is checked, with until when and why, and how to lift it (loopback)
    assert _attempt(instance, "127.0.1.1", "guess-again", "s3cret") == 5
    [sentence] = {s for s in _entries(instance, "banned") if "failed logins in 60 s from 127.0.1.1;" in s}
    assert re.match(r"banned until \d\d:\d\d:\d\d: 10 failed logins in 60 s from 127\.0\.1\.1; a loopback "
                    r"address: lift it with `mqttdesk ban remove 127\.0\.1\.1`", sentence)


def test_mqtt5_clients_hear_banned_0x8a_and_throttled_0x9f_with_the_sentence(admin: Store, instance: Instance
                                                                             ) -> None:
    _user(admin)
    _guard(admin, instance, throttle_after=1, ban_after=3, **FAST)

    def attempt() -> tuple[int, str | None]:
        with Raw5(instance.port, source="127.0.2.1") as raw:
            raw.send(connect_packet("guess5", username="lamp", password="wrong"))
            connack = raw.expect(CONNACK)
            return connack.reason_code_after(1), connack.reason_string_after(2)

    assert attempt()[0] == 0x86  # checked: a wrong password
    code, text = attempt()
    assert code == 0x9F
    assert text is not None
    assert text.startswith("throttled: 2 failed logins in 60 s from 127.0.2.1")
    code, text = attempt()
    assert code == 0x8A
    assert text is not None
    assert re.match(r"banned until \d\d:\d\d:\d\d: 3 failed logins in 60 s from 127\.0\.2\.1", text)
    code, again = attempt()
    assert (code, again) == (0x8A, text)


def test_a_correct_password_from_a_throttled_address_is_not_checked_until_its_delay_has_passed(
        admin: Store, instance: Instance) -> None:
    _user(admin)
    _guard(admin, instance, **FAST)
    now = [time.time()]
    instance.service.guard.clock = lambda: now[0]  # the guard's time, stepped by the test (no waiting)
    for n in range(3):
        assert _attempt(instance, "127.0.2.2", "typo", f"wrong-{n}") == 4
    hashes = instance.service.pipeline.verifier.hashes_computed
    assert _attempt(instance, "127.0.2.2", "typo", "s3cret") == 5  # throttled: the right password, not looked at
    assert instance.service.pipeline.verifier.hashes_computed == hashes
    now[0] += 2.0  # the delay has passed: the next attempt is checked
    assert _attempt(instance, "127.0.2.2", "typo", "s3cret") == 0
    assert instance.service.pipeline.verifier.hashes_computed == hashes + 1


def test_exempt_loopback_lets_loopback_guess_on_unthrottled(admin: Store, instance: Instance) -> None:
    _user(admin)
    _guard(admin, instance, exempt_loopback=True, **FAST)
    assert {_attempt(instance, "127.0.2.3", "guess", f"wrong-{n}") for n in range(15)} == {4}
    assert instance.service.bans() == []


def test_flapping_client_id_is_slowed_then_banned_and_the_auth_log_says_so(admin: Store, instance: Instance) -> None:
    _user(admin)
    _guard(admin, instance, flap_slow_after=2, flap_ban_after=4, **FAST)
    answers = []
    for _ in range(4):
        with RawClient(instance.port, source="127.0.3.1") as raw:
            answers.append(raw.connect("DVES_FLAP", username="lamp", password=b"s3cret").return_code)
    assert answers == [0, 0, 0, 5]
    instance.flush_log()
    entries = [e for e in instance.call(instance.store.auth_log.recent, 50) if e.client_id == "DVES_FLAP"]
    slowed = [e for e in entries if e.allowed and any(s.startswith("flapping: 3 connects in 60 s") for s in e.steps)]
    assert slowed, "the third connect was slowed, and its entry says why"
    [refused] = [e for e in entries if e.reason_code == "banned"]
    assert re.fullmatch(r"banned until \d\d:\d\d:\d\d: flapping: 4 connects in 60 s of clientId 'DVES_FLAP' from "
                        r"127\.0\.3\.1", refused.reason)
    # the clientId is banned, from any address; another clientId of the same user is not
    assert _attempt(instance, "127.0.3.2", "DVES_FLAP", "s3cret") == 5
    assert _attempt(instance, "127.0.3.2", "DVES_OTHER", "s3cret") == 0


def test_a_wrong_password_on_someone_elses_client_id_does_not_count_as_its_flapping(admin: Store, instance: Instance
                                                                                    ) -> None:
    _user(admin)
    _guard(admin, instance, flap_slow_after=1, flap_ban_after=2, exempt_loopback=False, ban_after=50,
           throttle_after=50)
    for n in range(5):
        assert _attempt(instance, "127.0.3.3", "DVES_OWNED", f"wrong-{n}") == 4
    assert _attempt(instance, "127.0.3.4", "DVES_OWNED", "s3cret") == 0


def test_bans_outlive_a_restart(admin: Store, data_dir: Path) -> None:
    _user(admin)
    first = Instance(data_dir)
    first.start()
    try:
        _guard(admin, first, throttle_after=1, ban_after=2, **FAST)
        assert _attempt(first, "127.0.4.1", "guess", "wrong") == 4
        assert _attempt(first, "127.0.4.1", "guess", "wrong-2") == 5  # the second failed login bans it
    finally:
        first.stop()
    [stored] = admin.bans.list()
    assert (stored.kind, stored.value, stored.actor) == (BanKind.ADDRESS, "127.0.4.1", "automatic")
    second = Instance(data_dir)
    second.start()
    try:
        assert _attempt(second, "127.0.4.1", "guess", "s3cret") == 5
        assert _attempt(second, "127.0.4.2", "other", "s3cret") == 0
    finally:
        second.stop()


def test_ban_cli_against_a_running_instance_disconnects_lists_and_lifts(admin: Store, instance: Instance,
                                                                        data_dir: Path) -> None:
    _user(admin, instance=instance)
    connected = TestClient("lamp-desk", instance.port, username="lamp", password="s3cret", source="127.0.5.1")
    try:
        assert connected.connect() == 0
        added = run_cli(data_dir, "ban", "add", "127.0.5.1", "--for", "1h", "--reason", "a stolen laptop")
        assert added.returncode == 0, added.stderr
        assert re.fullmatch(r"banned address 127\.0\.5\.1 until \d\d:\d\d:\d\d; disconnected lamp-desk\n",
                            added.stdout)
        connected.wait_disconnected()
    finally:
        connected.close()
    assert _attempt(instance, "127.0.5.1", "lamp-desk", "s3cret") == 5
    [entry] = _entries(instance, "banned")[-1:]
    assert re.fullmatch(r"banned until \d\d:\d\d:\d\d: a stolen laptop; a loopback address: lift it with "
                        r"`mqttdesk ban remove 127\.0\.5\.1`.*", entry)
    listed = run_cli(data_dir, "ban", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert '"value": "127.0.5.1"' in listed.stdout
    assert '"by": "mqttdesk ban add (CLI)"' in listed.stdout
    lifted = run_cli(data_dir, "ban", "remove", "127.0.5.1")
    assert (lifted.returncode, lifted.stdout) == (0, "lifted the ban of address 127.0.5.1 (a stolen laptop)\n")
    assert _attempt(instance, "127.0.5.1", "lamp-desk", "s3cret") == 0
    # a username and a clientId, too
    assert run_cli(data_dir, "ban", "add", "lamp", "--username").returncode == 0
    assert _attempt(instance, "127.0.5.2", "lamp-2", "s3cret") == 5
    assert run_cli(data_dir, "ban", "remove", "lamp", "--username").returncode == 0
    assert run_cli(data_dir, "ban", "add", "DVES_9", "--client-id").returncode == 0
    assert _attempt(instance, "127.0.5.2", "DVES_9", "s3cret") == 5
    assert _attempt(instance, "127.0.5.2", "lamp-3", "s3cret") == 0


def test_ban_cli_without_an_instance_changes_the_store_and_says_what_is_wrong(admin: Store, data_dir: Path) -> None:
    added = run_cli(data_dir, "ban", "add", "10.9.8.7")
    assert (added.returncode, added.stdout) == (0, "banned address 10.9.8.7 until removed\n")
    assert [(b.value, b.until, b.actor) for b in admin.bans.list()] == [("10.9.8.7", None, "cli")]
    listed = run_cli(data_dir, "ban", "list")
    assert listed.returncode == 0
    assert "10.9.8.7" in listed.stdout
    assert "until removed" in listed.stdout
    for args, code, message in (
            (("ban", "remove", "10.1.1.1"), 1, "no address '10.1.1.1' is banned"),
            (("ban", "add", "not-an-address"), 1, "'not-an-address' is not an IP address"),
            (("ban", "add", "10.1.1.1", "--for", "soon"), 1, "a duration is a number with s, m, h or d"),
            (("ban", "add"), 2, "the following arguments are required: WHO"),
            (("ban", "add", "x", "--username", "--client-id"), 2, "not allowed with argument")):
        result = run_cli(data_dir, *args)
        assert result.returncode == code, (args, result.stderr)
        assert message in result.stderr
        assert result.stderr.count("\n") <= (1 if code == 1 else 5), result.stderr  # one line; usage: its usage
        assert "Traceback" not in result.stderr
    assert run_cli(data_dir, "ban", "remove", "10.9.8.7").returncode == 0
    assert admin.bans.list() == []


def test_guard_settings_through_config_apply_at_once(admin: Store, data_dir: Path) -> None:
    result = run_cli(data_dir, "config", "set", "guard.ban_after", "5")
    assert (result.returncode, result.stdout) == (0, "guard.ban_after = 5 (applies at once)\n")
    assert run_cli(data_dir, "config", "set", "guard.exempt_loopback", "on").returncode == 0
    assert run_cli(data_dir, "config", "set", "guard.ban_seconds", "90").returncode == 0
    settings = admin.settings.guard()
    assert (settings.ban_after, settings.exempt_loopback, settings.ban_seconds) == (5, True, 90.0)
    refused = run_cli(data_dir, "config", "set", "guard.ban_after", "1")
    assert refused.returncode == 1
    assert "must not be below guard.throttle_after (3)" in refused.stderr
    shown = run_cli(data_dir, "config", "show")
    assert "guard.exempt_loopback" in shown.stdout
    assert "guard.flap_ban_after" in shown.stdout


def test_a_manual_ban_of_a_connected_address_ends_its_mqtt5_session_with_0x98(admin: Store, instance: Instance
                                                                              ) -> None:
    _user(admin, instance=instance)
    with Raw5(instance.port, source="127.0.6.1") as raw:
        raw.send(connect_packet("lamp-5", username="lamp", password="s3cret"))
        assert raw.expect(CONNACK).reason_code_after(1) == 0
        ban, ending = instance.call(lambda: instance.service.add_ban(BanKind.ADDRESS, "127.0.6.1", by="admin"))
        assert isinstance(ban, Ban)
        assert ending == ["lamp-5"]
        try:
            disconnect = raw.expect(14)
        except ConnectionClosed:  # pragma: no cover - the broker sends its DISCONNECT before closing
            raise AssertionError("closed without a DISCONNECT") from None
        assert disconnect.reason_code_after(0) == 0x98
        said = disconnect.reason_string_after(1)
        assert said is not None
        assert said.startswith("disconnected: address 127.0.6.1 was banned until removed")


def test_the_guards_own_ban_leaves_a_session_that_logged_in_from_that_address_alone(admin: Store, instance: Instance
                                                                                   ) -> None:
    _user(admin)
    _guard(admin, instance, throttle_after=1, ban_after=2, **FAST)
    device = TestClient("lamp-shared-nat", instance.port, username="lamp", password="s3cret", source="127.0.6.2")
    try:
        assert device.connect() == 0
        assert _attempt(instance, "127.0.6.2", "guess", "wrong") == 4
        assert _attempt(instance, "127.0.6.2", "guess", "wrong-2") == 5  # banned now
        assert [ban.value for ban in instance.service.bans()] == ["127.0.6.2"]
        instance.sync()
        assert device.is_connected
        assert "lamp-shared-nat" in instance.call(lambda: [live.client_id for live in instance.service.registry])
    finally:
        device.close()
