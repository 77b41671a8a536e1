"""The login guard of a running broker: core/guard.py's rules applied to CONNECTs, with their bans in the store.

The broker asks `before_check` as soon as a CONNECT is read (a ban refuses it at once; a throttled attempt is held
for its delay and refused, its password never looked at), tells `settle` how the decision came out (failed logins
count, a correct one forgives), and asks `before_session` before an accepted CONNECT opens its session (flapping).
The rules' clock is the wall clock: bans say until when, and outlive a restart.

Bans the rules make are written to the store at once (a rare write: one per guessing address per ban), or kept
and written at the next `save_pending` when another process holds the database. Bans added or lifted elsewhere (the
CLI, the window) reach the rules through the store's change notices; the `guard.*` settings apply the same way.
A held connection costs a file descriptor: at most `MAX_HELD_PER_ADDRESS` are held per address at once, the others
are answered without their delay.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace

from mqttdesk.auth.verifier import GoneTest
from mqttdesk.core.addresses import address_source
from mqttdesk.core.bans import Ban, BanKind
from mqttdesk.core.decide import decide_unchecked
from mqttdesk.core.decision import ConnectRequest, Decision
from mqttdesk.core.guard import Attack, Gate, Guard
from mqttdesk.core.model import Directory
from mqttdesk.store.changes import Change, ChangeKind
from mqttdesk.store.db import Store
from mqttdesk.store.settings_repo import GUARD_PREFIX

log = logging.getLogger(__name__)

MAX_HELD_PER_ADDRESS = 16
GONE_POLL = 0.25  # how often a held connection checks that its client is still there


@dataclass(slots=True)
class Ticket:
    """A CONNECT `before_check` let through, until `settle` counts its outcome (once)."""

    request: ConnectRequest
    gate: Gate
    settled: bool = False


class LoginGuard:
    def __init__(self, store: Store, clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self.clock = clock  # the rules' time (wall clock: bans say until when); tests step it
        self.rules = Guard(store.settings.guard())
        self.rules.set_bans(store.bans.list(clock()))
        self._unsaved: dict[str, Ban] = {}
        self._held: Counter[str] = Counter()
        store.subscribe(self._on_store_changes)

    def close(self) -> None:
        self.save_pending()
        self._store.unsubscribe(self._on_store_changes)

    def _on_store_changes(self, changes: tuple[Change, ...]) -> None:
        for change in changes:
            if change.kind is ChangeKind.BAN:
                kind, _, value = change.key.partition(":")
                ban = self._store.bans.get(BanKind(kind), value)
                if ban is None:
                    self.rules.remove_ban(BanKind(kind), value)
                    self._unsaved.pop(change.key, None)
                else:
                    self.rules.add_ban(ban)
            elif change.kind is ChangeKind.SETTINGS and change.key.startswith(GUARD_PREFIX):
                self.rules.settings = self._store.settings.guard()

    # -- what the broker asks -----------------------------------------------------------------------

    def before_check(self, request: ConnectRequest) -> Ticket:
        """Banned or throttled (`ticket.gate.refused`: answer with `refusal`), or go on and `settle` it later."""
        gate = self.rules.before_check(request.address, request.username, request.client_id, self.clock())
        if gate.new_ban and gate.ban is not None:
            self._save(gate.ban)
            log.warning("%s %s", gate.ban.who(), gate.text)
        return Ticket(request, gate, settled=gate.refused)

    def settle(self, ticket: Ticket, decision: Decision | None) -> Decision | None:
        """Count the decision of a CONNECT `before_check` let through (None: it ended without one; a ticket is
        counted once, later calls do nothing); the decision comes back with a step naming the ban it earned its
        address, if it did."""
        if ticket.settled:
            return decision
        ticket.settled = True
        request = ticket.request
        outcome = None if decision is None else decision.reason_code
        allowed = decision is not None and decision.allowed
        now = self.clock()
        ban = self.rules.settle(request.address, request.username, outcome, allowed, now)
        if ban is None or decision is None:
            return decision
        self._save(ban)
        log.warning("%s %s", ban.who(), ban.sentence(now))
        return replace(decision, steps=(*decision.steps, f"and now {ban.who()} is {ban.sentence(now)}"))

    def before_session(self, request: ConnectRequest) -> Gate:
        gate = self.rules.before_session(request.client_id, request.client_id_assigned, request.address,
                                         self.clock())
        if gate.new_ban and gate.ban is not None:
            self._save(gate.ban)
            log.warning("%s %s", gate.ban.who(), gate.text)
        return gate

    def session_opened(self, request: ConnectRequest) -> None:
        self.rules.session_opened(request.client_id, request.client_id_assigned, request.address, self.clock())

    def refusal(self, request: ConnectRequest, gate: Gate, directory: Directory) -> Decision:
        """The Auth log entry and CONNACK of a CONNECT the guard refused (nothing of its credential was checked)."""
        decision = decide_unchecked(request, directory, gate.code, gate.text)
        ban = gate.ban
        first = f"{ban.who()} is banned (by {ban.actor})" if ban is not None else "the address is throttled"
        at = 1 if request.transport_step() is not None else 0  # after how it came in, as every decision starts
        return replace(decision, steps=(*decision.steps[:at], first, *decision.steps[at:]))

    async def hold(self, delay: float, request: ConnectRequest, gone: GoneTest | None = None) -> None:
        """Wait `delay` before a CONNACK (less when the client leaves; not at all beyond the per-address cap)."""
        if delay <= 0:
            return
        key = address_source(request.address)
        if self._held[key] >= MAX_HELD_PER_ADDRESS:
            return
        self._held[key] += 1
        try:
            deadline = asyncio.get_running_loop().time() + delay
            for _ in range(int(delay / GONE_POLL) + 2):  # bounded: the deadline ends it first
                left = deadline - asyncio.get_running_loop().time()
                if left <= 0 or (gone is not None and gone()):
                    return
                await asyncio.sleep(min(GONE_POLL, left))
        finally:
            self._held[key] -= 1
            if self._held[key] <= 0:
                del self._held[key]

    # -- what the window and the CLI ask -----------------------------------------------------------

    def attack(self) -> Attack | None:
        return self.rules.attack(self.clock())

    def bans(self) -> list[Ban]:
        return self.rules.bans(self.clock())

    # -- the store ----------------------------------------------------------------------------------

    def _save(self, ban: Ban) -> None:
        self._unsaved[ban.key] = ban
        self.save_pending()

    def save_pending(self) -> None:
        """Write the bans made here that are not on disk yet (another process may have held the database)."""
        for key, ban in list(self._unsaved.items()):
            try:
                self._store.bans.add(ban)
            except sqlite3.Error as exc:
                log.warning("could not store the ban of %s yet (%s); it applies meanwhile", ban.who(), exc)
                return
            self._unsaved.pop(key, None)
