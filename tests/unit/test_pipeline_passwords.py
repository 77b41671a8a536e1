"""How the pipeline turns the verifier's verdicts into CONNECT decisions, and when it makes the verifier forget."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from mqttdesk.auth.pipeline import AuthPipeline
from mqttdesk.auth.verifier import GoneTest, PasswordVerifier, Verdict
from mqttdesk.core.decision import ConnectRequest, Decision
from mqttdesk.core.reasons import ReasonCode
from mqttdesk.store.db import Store
from tests.support import fast_hash


class FixedVerdict(PasswordVerifier):
    """A verifier that answers every check with one verdict (what a full queue or a departed client gives)."""

    def __init__(self, verdict: Verdict) -> None:
        super().__init__()
        self.verdict = verdict
        self.asked: list[tuple[str | None, bool]] = []

    async def check(self, password: str, encoded: str, *, source: str | None = None,
                    gone: GoneTest | None = None, suspect: bool = False, trusted: bool = False) -> Verdict:
        self.asked.append((source, gone is not None and gone()))
        return self.verdict


def _decide(pipeline: AuthPipeline, password: str, **options: Any) -> Decision:
    request = ConnectRequest("lamp-1", "lamp", password, address="10.0.0.7")
    return asyncio.run(pipeline.decide_connect(request, **options))


def test_busy_and_gone_verdicts_become_refusals_with_their_own_codes(tmp_path: Path) -> None:
    store = Store.open(tmp_path)
    store.users.add("lamp", fast_hash("s3cret"))
    try:
        for verdict, code in ((Verdict.BUSY, ReasonCode.SERVER_BUSY), (Verdict.GONE, ReasonCode.CLIENT_GONE)):
            verifier = FixedVerdict(verdict)
            pipeline = AuthPipeline(store, verifier)
            decision = _decide(pipeline, "s3cret", gone=lambda: True)
            assert (decision.allowed, decision.reason_code, decision.connack) == (False, code, 3)
            assert decision.username == "lamp"
            assert "password not checked" in decision.steps
            assert verifier.asked == [("10.0.0.7", True)]  # the client's address is its share of the queue
            pipeline.close()
            verifier.close()
    finally:
        store.close()


def test_a_credential_change_forgets_known_wrong_passwords_too(tmp_path: Path) -> None:
    store = Store.open(tmp_path)
    store.users.add("lamp", fast_hash("s3cret"))
    pipeline = AuthPipeline(store)
    verifier = pipeline.verifier
    try:
        assert _decide(pipeline, "guess").reason_code is ReasonCode.BAD_PASSWORD
        assert _decide(pipeline, "guess").reason_code is ReasonCode.BAD_PASSWORD
        assert verifier.hashes_computed == 1  # the repeated guess came from the failure cache
        assert _decide(pipeline, "s3cret").allowed
        assert (len(verifier), verifier.known_failures) == (1, 1)

        store.roles.add("unrelated")  # other changes keep what is known
        assert (len(verifier), verifier.known_failures) == (1, 1)

        store.users.set_password("lamp", fast_hash("guess"))
        assert (len(verifier), verifier.known_failures) == (0, 0)
        assert _decide(pipeline, "guess").allowed  # the old "wrong" is not held against the new password
    finally:
        pipeline.close()
        store.close()


class ChangesDuringTheCheck(PasswordVerifier):
    """A verifier whose first check lets `change` run while the hash is being computed (what an administrator's
    password change in the window does to a CONNECT whose PBKDF2 is running in a worker thread)."""

    def __init__(self, change: Any) -> None:
        super().__init__()
        self.change = change
        self.checked: list[str] = []

    async def check(self, password: str, encoded: str, *, source: str | None = None,
                    gone: GoneTest | None = None, suspect: bool = False, trusted: bool = False) -> Verdict:
        self.checked.append(encoded)
        if self.change is not None:
            self.change, change = None, self.change
            change()
        return await super().check(password, encoded, source=source, gone=gone)


def test_a_password_changed_while_the_hash_ran_is_checked_again_against_the_new_hash(tmp_path: Path) -> None:
    store = Store.open(tmp_path)
    store.users.add("lamp", fast_hash("old"))
    verifier = ChangesDuringTheCheck(lambda: store.users.set_password("lamp", fast_hash("new")))
    pipeline = AuthPipeline(store, verifier)
    try:
        decision = _decide(pipeline, "old")
        assert (decision.allowed, decision.reason_code) == (False, ReasonCode.BAD_PASSWORD)
        assert len(set(verifier.checked)) == 2  # the old hash, then the one the snapshot has now
        assert _decide(pipeline, "new").allowed
    finally:
        pipeline.close()
        verifier.close()
        store.close()


def test_a_device_registered_while_the_hash_ran_is_what_the_connect_is_decided_against(tmp_path: Path) -> None:
    """The snapshot changed in place (a bootstrap CONNECT of the same clientId registered it meanwhile): the
    CONNECT is decided on the device, whose hash is looked up again, not on what was looked up before."""
    from mqttdesk.core.decision import Grant
    from mqttdesk.core.model import CredentialKind, CredentialRef, Method

    store = Store.open(tmp_path)
    store.bootstraps.add("fleet", fast_hash("shared"), register_devices=True)
    pipeline: AuthPipeline | None = None

    def register() -> None:
        assert pipeline is not None
        pipeline.admit_device(Grant(Method.BOOTSTRAP, CredentialRef(CredentialKind.DEVICE, "lamp-1"), "fleet",
                                    "lamp-1", registers="fleet"), "10.0.0.8")

    verifier = ChangesDuringTheCheck(register)
    pipeline = AuthPipeline(store, verifier)
    try:
        request = ConnectRequest("lamp-1", "fleet", "shared", address="10.0.0.7")
        decision = asyncio.run(pipeline.decide_connect(request))
        assert decision.allowed
        assert decision.grant is not None
        assert decision.grant.credential == CredentialRef(CredentialKind.DEVICE, "lamp-1")
        assert decision.grant.registers is None  # the device logged in; nobody registers it twice
    finally:
        pipeline.close()
        verifier.close()
        store.close()


def test_an_unchanged_snapshot_is_not_looked_up_twice(tmp_path: Path, monkeypatch: Any) -> None:
    from mqttdesk.auth import pipeline as pipeline_module

    store = Store.open(tmp_path)
    store.users.add("lamp", fast_hash("s3cret"))
    pipeline = AuthPipeline(store)
    lookups: list[str | None] = []
    lookup = pipeline_module.password_hash_for

    def counted(*args: Any) -> str | None:
        lookups.append(found := lookup(*args))
        return found

    monkeypatch.setattr(pipeline_module, "password_hash_for", counted)
    try:
        assert _decide(pipeline, "s3cret").allowed
        assert len(lookups) == 1  # check_password's; the decision trusts it while nothing changed
    finally:
        pipeline.close()
        store.close()
