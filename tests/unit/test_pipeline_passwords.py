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
