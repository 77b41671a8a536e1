"""The login guard's rules: password guessing is throttled, then banned; a client reconnecting in a tight loop
(flapping) is slowed, then banned. Pure: every method takes the time (`now`, seconds since the epoch) from its caller.

Guessing. Failed logins (a wrong password, an unknown username, a bad token: `FAILED_LOGIN`) are counted per source
address (an IPv4 address or an IPv6 /64, `addresses.address_source`) and per username, over a sliding `window`.

- An address with `throttle_after` failed logins (counting its checks in flight, once it has failed one) is
  *throttled*: its next attempt
  is checked only after a delay since its last failure (`delay`, doubling with every failure, at most `max_delay`),
  one at a time; an attempt that comes earlier is refused (`throttled`) without its password being looked at —
  no hash is computed — and its CONNACK waits for that delay. A throttled attempt counts as a failed login, from
  the moment its CONNACK goes out: a client that retries at once is refused again.
- A username with `user_throttle_after` failed logins from any addresses throttles, the same way, the addresses
  that failed at it (or anything else) in the window; an address with no failure in the window is never held up by
  it, so a guessing flood spread over many addresses cannot lock the username's owner out.
- An address reaching `ban_after` failed logins is banned for `ban_seconds`. A correct login forgets the failures
  of that address at that username (a typo is no attack).
- Attempts from an address that failed in the window are *suspect* (`Gate.suspect`): the password checks put them
  behind clean ones, so a correct login from elsewhere waits for no guess. Attempts from an address that logged
  in correctly in the last `TRUST_SECONDS` (and failed nothing since) are *trusted* (`Gate.trusted`): checked
  before any other, so a device that was here this morning does not queue behind the first guesses of a flood
  from addresses nobody has seen yet.

Flapping. Accepted connects are counted per clientId (per address for clients whose clientId the broker assigned,
which is new every time): beyond `flap_slow_after` in the window each CONNACK waits (the same doubling delay);
the connect that reaches `flap_ban_after` is refused and the clientId (or address) banned for `flap_ban_seconds`
("flapping: 15 connects in 60 s").

Bans name an address (or an IPv6 /64), a username or a clientId; they are made here (automatic) or by an
administrator (`ban add`, the Banned tab), and refuse a CONNECT before anything else is looked at. With
`exempt_loopback`, loopback addresses are never throttled or banned automatically (an administrator's ban still
applies); without it (the default) the ban's sentence says how to lift it. Everything held is bounded: at most
`MAX_TRACKED` addresses, usernames and clientIds, each with its own bounded history.
"""

from __future__ import annotations

from collections import Counter, OrderedDict, deque
from dataclasses import dataclass, field
from enum import Enum
from typing import TypeVar

from mqttdesk.core.addresses import address_source, is_loopback_address
from mqttdesk.core.bans import Ban, BanKind
from mqttdesk.core.errors import ValidationError
from mqttdesk.core.reasons import ReasonCode
from mqttdesk.core.timefmt import format_clock

MAX_TRACKED = 100_000  # addresses, usernames and flapping keys remembered at most (least recently seen go first)
MAX_REFUSALS_KEPT = 100_000  # refusals remembered for the attack figure
TRUST_SECONDS = 86_400.0  # how long a correct login makes its address's checks go first
V = TypeVar("V")

# Refusals that count as a failed login: the client did not prove who it claims to be.
FAILED_LOGIN = frozenset({
    ReasonCode.BAD_PASSWORD, ReasonCode.UNKNOWN_USER, ReasonCode.MISSING_PASSWORD, ReasonCode.TOKEN_MALFORMED,
    ReasonCode.TOKEN_BAD_SIGNATURE, ReasonCode.TOKEN_UNKNOWN_ISSUER, ReasonCode.EXTERNAL_DENIED,
})


@dataclass(frozen=True, slots=True)
class GuardSettings:
    window: float = 60.0  # seconds over which failed logins and connects are counted
    throttle_after: int = 3  # failed logins from one address before its attempts are delayed and not checked
    ban_after: int = 10  # failed logins from one address before it is banned
    ban_seconds: float = 600.0
    user_throttle_after: int = 20  # failed logins at one username (any address) before its guessers are throttled
    delay: float = 1.0  # the first delay; doubling with every further failure (or connect)
    max_delay: float = 8.0
    flap_slow_after: int = 10  # accepted connects of one clientId before each CONNACK is delayed
    flap_ban_after: int = 15  # the connect that reaches this is refused and the clientId banned
    flap_ban_seconds: float = 300.0
    attack_after: int = 20  # refusals in the window from which the window says the broker is under attack
    exempt_loopback: bool = False

    def __post_init__(self) -> None:
        for name in ("throttle_after", "ban_after", "user_throttle_after", "flap_slow_after", "flap_ban_after",
                     "attack_after"):
            value = getattr(self, name)
            if not 1 <= value <= 1_000_000:
                raise ValidationError(f"guard.{name} must be between 1 and 1000000, not {value}")
        for name, low, high in (("window", 1, 86400), ("ban_seconds", 1, 365 * 86400), ("delay", 0, 60),
                                ("max_delay", 0, 60), ("flap_ban_seconds", 1, 365 * 86400)):
            value = getattr(self, name)
            if not low <= value <= high:
                raise ValidationError(f"guard.{name} must be between {low} and {high} seconds, not {value:g}")
        if self.ban_after < self.throttle_after:
            raise ValidationError(f"guard.ban_after ({self.ban_after}) must not be below guard.throttle_after "
                                  f"({self.throttle_after})")
        if self.flap_ban_after <= self.flap_slow_after:
            raise ValidationError(f"guard.flap_ban_after ({self.flap_ban_after}) must be above "
                                  f"guard.flap_slow_after ({self.flap_slow_after})")
        if self.max_delay < self.delay:
            raise ValidationError(f"guard.max_delay ({self.max_delay:g} s) must not be below guard.delay "
                                  f"({self.delay:g} s)")

    def growing_delay(self, excess: int) -> float:
        """The delay after `excess` (0, 1, 2, …) failures or connects beyond a threshold: doubling, capped."""
        return float(min(self.max_delay, self.delay * 2.0 ** min(excess, 30)))


class GateKind(Enum):
    PASS = "pass"  # go on: check the password / open the session
    THROTTLED = "throttled"  # refused after `delay`, nothing checked
    BANNED = "banned"  # refused at once
    SLOWED = "slowed"  # go on after `delay` (flapping)


@dataclass(frozen=True, slots=True)
class Gate:
    kind: GateKind
    delay: float = 0.0
    text: str = ""  # the refusal's sentence, or the step saying why a connect was slowed
    ban: Ban | None = None  # the ban in force, or made by this very attempt (`new_ban`)
    new_ban: bool = False
    suspect: bool = False  # PASS from an address that failed in the window: its check waits behind clean ones
    trusted: bool = False  # PASS from an address that logged in correctly lately: its check goes first

    @property
    def refused(self) -> bool:
        return self.kind in (GateKind.THROTTLED, GateKind.BANNED)

    @property
    def code(self) -> ReasonCode:
        return ReasonCode.BANNED if self.kind is GateKind.BANNED else ReasonCode.THROTTLED


PASS = Gate(GateKind.PASS)
PASS_SUSPECT = Gate(GateKind.PASS, suspect=True)
PASS_TRUSTED = Gate(GateKind.PASS, trusted=True)


@dataclass(frozen=True, slots=True)
class Attack:
    refusals: int
    addresses: int
    window: float

    def sentence(self) -> str:
        return (f"Under a password-guessing attack: {self.refusals:,} refusal{'s' * (self.refusals != 1)} from "
                f"{self.addresses:,} address{'es' * (self.addresses != 1)} in the last {_seconds(self.window)}")


def _seconds(window: float) -> str:
    return "minute" if window == 60 else f"{window:g} s"


@dataclass(slots=True)
class _Source:
    """One address's failed logins in the window: (time, username), oldest first; checks now in flight."""

    failures: deque[tuple[float, str | None]] = field(default_factory=deque)
    in_flight: int = 0


def _bound(table: OrderedDict[str, V]) -> None:
    while len(table) > MAX_TRACKED:
        table.popitem(last=False)


def _trim_oldest(table: dict[str, V]) -> None:
    """`_bound` for a plain dict kept in least-recently-seen order (a key seen again is re-inserted at the end):
    past MAX_TRACKED its oldest tenth goes at once (a dict has no cheap popitem from its front)."""
    if len(table) > MAX_TRACKED:
        kept = list(table.items())[len(table) - MAX_TRACKED * 9 // 10:]
        table.clear()
        table.update(kept)


class Guard:
    def __init__(self, settings: GuardSettings | None = None) -> None:
        self.settings = settings or GuardSettings()
        self._bans: dict[tuple[BanKind, str], Ban] = {}
        self._sources: OrderedDict[str, _Source] = OrderedDict()
        self._usernames: OrderedDict[str, deque[tuple[float, str]]] = OrderedDict()  # (time, source)
        # the times of the connects in the window: one time alone until a second comes (most devices connect once,
        # and a list of one is 0.13 KB more of every connected client), never a deque (an empty one is ~0.6 KB)
        # a plain dict, in least-recently-seen order: an OrderedDict's entry is 48 bytes more of every connected client
        self._connects: dict[str, float | list[float]] = {}
        self._refusals: deque[tuple[float, str]] = deque()
        self._refusing: Counter[str] = Counter()  # source -> refusals of it in `_refusals`
        self._trusted: OrderedDict[str, float] = OrderedDict()  # source -> its last correct login

    # -- bans ---------------------------------------------------------------------------------------

    def set_bans(self, bans: list[Ban]) -> None:
        self._bans = {(ban.kind, ban.value): ban for ban in bans}

    def add_ban(self, ban: Ban) -> None:
        self._bans[(ban.kind, ban.value)] = ban

    def remove_ban(self, kind: BanKind, value: str) -> Ban | None:
        """Lift a ban, and forget what led to it (an unbanned address starts with a clean slate)."""
        ban = self._bans.pop((kind, value), None)
        if kind is BanKind.ADDRESS:
            self._sources.pop(value, None)
            self._connects.pop(value, None)
        elif kind is BanKind.CLIENT_ID:
            self._connects.pop(value, None)
        return ban

    def bans(self, now: float) -> list[Ban]:
        """The bans in force, newest first."""
        return sorted((ban for ban in self._bans.values() if ban.active(now)), key=lambda b: b.since, reverse=True)

    def ban_of(self, address: str | None, username: str | None, client_id: str | None, now: float) -> Ban | None:
        """The ban in force on this address (or its /64), username or clientId, if any."""
        if not self._bans:
            return None
        keys: list[tuple[BanKind, str]] = []
        if address:
            keys += [(BanKind.ADDRESS, address), (BanKind.ADDRESS, address_source(address))]
        if username:
            keys.append((BanKind.USERNAME, username))
        if client_id:
            keys.append((BanKind.CLIENT_ID, client_id))
        for key in keys:
            ban = self._bans.get(key)
            if ban is not None:
                if ban.active(now):
                    return ban
                del self._bans[key]
        return None

    def _exempt(self, address: str | None) -> bool:
        return not address or (self.settings.exempt_loopback and is_loopback_address(address))

    # -- guessing -----------------------------------------------------------------------------------

    def before_check(self, address: str | None, username: str | None, client_id: str | None, now: float) -> Gate:
        """Before any credential work: banned, throttled (counted as a failure), or go on (then `settle`)."""
        ban = self.ban_of(address, username, client_id, now)
        if ban is not None:
            self._note_refusal(address, now)
            return Gate(GateKind.BANNED, text=ban.sentence(now), ban=ban)
        if self._exempt(address):
            return PASS
        key = address_source(address)
        source = self._source(key, now)
        s = self.settings
        failures = len(source.failures)
        # checks in flight count only once the address has failed: a fleet behind one address connecting at once
        # with its shared password (one hash for all, see the verifier) has failed at nothing
        by_address = failures > 0 and failures + source.in_flight >= s.throttle_after
        by_username = bool(username) and failures > 0 and self._user_failures(str(username), now) >= \
            s.user_throttle_after
        if not (by_address or by_username):
            source.in_flight += 1
            if failures:
                return PASS_SUSPECT
            trusted = self._trusted.get(key)
            return PASS_TRUSTED if trusted is not None and trusted > now - TRUST_SECONDS else PASS
        wait = s.growing_delay(max(0, failures - s.throttle_after))
        next_check = source.failures[-1][0] + wait if source.failures else now
        if source.in_flight == 0 and now >= next_check:
            source.in_flight += 1  # its one check now: the delay since its last failure has passed
            return PASS_SUSPECT
        # refused unchecked: a failure of its own, which may be the one that bans the address. It counts from
        # when its CONNACK goes out, after its delay: the client waits *after* hearing it, not while held.
        held = s.growing_delay(max(0, failures - s.throttle_after))
        self._fail(key, source, username, now + held)
        banned = self._maybe_ban(key, source, now)
        if banned is not None:
            return Gate(GateKind.BANNED, text=banned.sentence(now), ban=banned, new_ban=True)
        count = len(source.failures)
        if by_address:
            why = f"{count} failed logins in {s.window:g} s from {key}"
        else:
            why = (f"{self._user_failures(str(username), now)} failed logins at username '{username}' in "
                   f"{s.window:g} s, {count} of them from {key}")
        next_check = now + held + s.growing_delay(max(0, count - s.throttle_after))
        text = (f"throttled: {why}; the password was not checked (the next one from this address is checked from "
                f"{format_clock(next_check, now)})")
        return Gate(GateKind.THROTTLED, delay=held, text=text)

    def settle(self, address: str | None, username: str | None, outcome: ReasonCode | None, allowed: bool,
               now: float) -> Ban | None:
        """The outcome of a CONNECT `before_check` let through (`outcome` None: it ended without a decision).
        Returns the ban this failure earned the address, if it did."""
        if self._exempt(address):
            if outcome in FAILED_LOGIN and not allowed:
                self._note_refusal(address, now)
            return None
        key = address_source(address)
        source = self._sources.get(key)
        if source is not None and source.in_flight:
            source.in_flight -= 1
        if outcome is None:
            return None
        if allowed:
            self._forgive(key, username)
            self._trusted.pop(key, None)
            self._trusted[key] = now
            _bound(self._trusted)
            return None
        if outcome not in FAILED_LOGIN:
            return None
        source = self._source(key, now)
        self._fail(key, source, username, now)
        return self._maybe_ban(key, source, now)

    def _source(self, key: str, now: float) -> _Source:
        self._sweep(now)
        source = self._sources.get(key)
        if source is None:
            source = self._sources[key] = _Source()
            _bound(self._sources)
        else:
            self._sources.move_to_end(key)
        horizon = now - self.settings.window
        while source.failures and source.failures[0][0] <= horizon:
            source.failures.popleft()
        return source

    def _sweep(self, now: float) -> None:
        """Drop a few of the least recently seen addresses with nothing in the window (bounded work per call)."""
        horizon = now - self.settings.window
        for _ in range(4):
            if not self._sources:
                return
            key, oldest = next(iter(self._sources.items()))
            if oldest.in_flight or (oldest.failures and oldest.failures[-1][0] > horizon):
                return
            del self._sources[key]

    def _fail(self, key: str, source: _Source, username: str | None, now: float) -> None:
        limit = max(self.settings.ban_after, self.settings.throttle_after) + 1
        source.failures.append((now, username))
        while len(source.failures) > limit:
            source.failures.popleft()
        self._note_refusal(key, now)
        if username:
            attempts = self._usernames.get(username)
            if attempts is None:
                attempts = self._usernames[username] = deque()
                _bound(self._usernames)
            else:
                self._usernames.move_to_end(username)
            attempts.append((now, key))
            while len(attempts) > self.settings.user_throttle_after * 2:
                attempts.popleft()

    def _user_failures(self, username: str, now: float) -> int:
        attempts = self._usernames.get(username)
        if attempts is None:
            return 0
        horizon = now - self.settings.window
        while attempts and attempts[0][0] <= horizon:
            attempts.popleft()
        if not attempts:
            del self._usernames[username]
        return len(attempts)

    def _forgive(self, key: str, username: str | None) -> None:
        """A correct login: the failures of this address at this username were typos, not guesses."""
        source = self._sources.get(key)
        if source is not None and source.failures:  # (most logins have nothing to forgive: no deque rebuilt)
            source.failures = deque(f for f in source.failures if f[1] != username)
        attempts = self._usernames.get(username) if username else None
        if attempts:
            self._usernames[str(username)] = deque(a for a in attempts if a[1] != key)

    def _maybe_ban(self, key: str, source: _Source, now: float) -> Ban | None:
        s = self.settings
        count = len(source.failures)
        if count < s.ban_after:
            return None
        ban = Ban(BanKind.ADDRESS, key, f"{count} failed logins in {s.window:g} s from {key}", now,
                  now + s.ban_seconds)
        self._bans[(ban.kind, ban.value)] = ban
        source.failures.clear()  # the ban speaks for them now; after it the address starts afresh
        return ban

    # -- flapping -----------------------------------------------------------------------------------

    def before_session(self, client_id: str, assigned: bool, address: str | None, now: float) -> Gate:
        """Before an accepted CONNECT opens its session: slowed or banned when its clientId (its address, for an
        assigned clientId) keeps reconnecting. Only accepted connects count (`session_opened`): a stranger
        presenting the clientId with a wrong password can neither slow nor ban its owner."""
        if self._exempt(address):
            return PASS
        key = self._flapping_key(client_id, assigned, address)
        s = self.settings
        count = self._connects_within(key, now - s.window) + 1  # with this one
        if count <= s.flap_slow_after:
            return PASS
        who = f"from {key} (clients with assigned clientIds)" if assigned else f"of clientId '{client_id}'" + (
            f" from {address}" if address else "")
        if count >= s.flap_ban_after:
            kind = BanKind.ADDRESS if assigned else BanKind.CLIENT_ID
            ban = Ban(kind, key, f"flapping: {count} connects in {s.window:g} s {who}", now, now + s.flap_ban_seconds)
            self._bans[(kind, key)] = ban
            self._connects.pop(key, None)
            self._note_refusal(address, now)
            return Gate(GateKind.BANNED, text=ban.sentence(now), ban=ban, new_ban=True)
        delay = s.growing_delay(count - s.flap_slow_after - 1)
        return Gate(GateKind.SLOWED, delay=delay,
                    text=f"flapping: {count} connects in {s.window:g} s {who}; its CONNACK waited {delay:g} s")

    def session_opened(self, client_id: str, assigned: bool, address: str | None, now: float) -> None:
        """An accepted CONNECT: one more connect of its clientId (or address) in the window."""
        if self._exempt(address):
            return
        key = self._flapping_key(client_id, assigned, address)
        connects = self._connects.get(key)
        if connects is None:
            self._connects[key] = now
            _trim_oldest(self._connects)
            return
        del self._connects[key]  # seen again: to the end, re-inserted below
        if not isinstance(connects, list):
            # the one earlier time is kept only while it is in the window
            self._connects[key] = [connects, now] if connects > now - self.settings.window else now
            return
        connects.append(now)
        if len(connects) > self.settings.flap_ban_after:
            del connects[:-self.settings.flap_ban_after]
        self._connects[key] = connects

    def _connects_within(self, key: str, horizon: float) -> int:
        """How many connects of `key` came after `horizon` (those before it are forgotten)."""
        connects = self._connects.get(key)
        if connects is None:
            return 0
        if not isinstance(connects, list):
            return 1 if connects > horizon else 0
        while connects and connects[0] <= horizon:
            del connects[0]
        return len(connects)

    @staticmethod
    def _flapping_key(client_id: str, assigned: bool, address: str | None) -> str:
        # an assigned clientId is new at every connect: the address is what reconnects
        return address_source(address) if assigned else client_id

    # -- under attack? ------------------------------------------------------------------------------

    def _note_refusal(self, address: str | None, now: float) -> None:
        key = address_source(address)
        self._refusals.append((now, key))
        self._refusing[key] += 1
        if len(self._refusals) > MAX_REFUSALS_KEPT:
            self._drop_refusal()

    def _drop_refusal(self) -> None:
        _, key = self._refusals.popleft()
        self._refusing[key] -= 1
        if self._refusing[key] <= 0:
            del self._refusing[key]

    def attack(self, now: float) -> Attack | None:
        """The refusals (failed logins, throttled and banned attempts) of the last window, when they are many."""
        horizon = now - self.settings.window
        while self._refusals and self._refusals[0][0] <= horizon:
            self._drop_refusal()
        if len(self._refusals) < self.settings.attack_after:
            return None
        return Attack(len(self._refusals), len(self._refusing), self.settings.window)
