"""The explainer: run the same pipeline as the broker in dry-run mode and say, step by step, what it decided.

Nothing changes: no Auth log entry, no first-use activation, no device registration. The live sessions it
consults (who holds a clientId) are passed in by the caller: the running instance's, when there is one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from mqttdesk.auth.pipeline import AuthPipeline
from mqttdesk.core.decision import ConnectRequest, Decision, Kind, SessionHolder
from mqttdesk.core.fixes import Fix, suggest_fix
from mqttdesk.core.model import CredentialKind, Method
from mqttdesk.core.reasons import CONNACK_MEANING


@dataclass(frozen=True, slots=True)
class Explanation:
    connect: Decision
    topic: Decision | None
    fix: Fix | None

    @property
    def final(self) -> Decision:
        return self.topic if self.topic is not None else self.connect

    @property
    def allowed(self) -> bool:
        return self.final.allowed


def explain(
    pipeline: AuthPipeline,
    request: ConnectRequest,
    live: Mapping[str, SessionHolder],
    *,
    topic: str | None = None,
    action: Kind | None = None,
) -> Explanation:
    """Decide a CONNECT (and then a PUBLISH or SUBSCRIBE on `topic`, when given) without changing anything."""
    connect = pipeline.explain_connect(request, live)
    decided: Decision | None = None
    if connect.allowed and connect.grant is not None and topic is not None:
        decided = pipeline.decide_topic(action or Kind.PUBLISH, connect.grant, topic)
    final = decided if decided is not None else connect
    return Explanation(connect, decided, suggest_fix(final, pipeline.directory))


async def explain_on_loop(
    pipeline: AuthPipeline,
    request: ConnectRequest,
    live: Mapping[str, SessionHolder],
    *,
    topic: str | None = None,
    action: Kind | None = None,
) -> Explanation:
    """`explain` for callers on the event loop (the window): only the password hash runs in a worker thread.

    The pipeline's caches belong to the loop; deciding in a worker thread would race the broker's own use of them.
    """
    connect = await pipeline.decide_connect(request, live)
    decided: Decision | None = None
    if connect.allowed and connect.grant is not None and topic is not None:
        kind = action or Kind.PUBLISH
        if connect.grant.credential.kind is CredentialKind.EXTERNAL:  # asked of the service, not of its cache
            decided = await pipeline.external_topic(kind, connect.grant, topic)
        else:
            decided = pipeline.decide_topic(kind, connect.grant, topic)
    final = decided if decided is not None else connect
    return Explanation(connect, decided, suggest_fix(final, pipeline.directory))


def connecting_as(connect: Decision, anonymous: str) -> str:
    """Who a CONNECT's explanation is about: the username, the user its certificate named, or `anonymous`."""
    if connect.username:
        return f"'{connect.username}'" + (" (client certificate)" if connect.method is Method.CERTIFICATE else "")
    return "a client certificate" if connect.method is Method.CERTIFICATE else anonymous


def explanation_lines(explanation: Explanation) -> list[str]:
    """The path as a person reads it in a terminal or a text pane."""
    connect = explanation.connect
    lines = [f"CONNECT as {connecting_as(connect, 'anonymous')} with clientId '{connect.client_id}'"]
    lines += [f"  {step}" for step in connect.steps]
    if explanation.topic is not None:
        lines.append(f"{explanation.topic.kind.value} '{explanation.topic.topic}'")
        lines += [f"  {step}" for step in explanation.topic.steps]
    final = explanation.final
    if final.allowed:
        lines.append("result: allowed")
    else:
        if final.kind is Kind.CONNECT and final.connack is not None:
            outcome = f"CONNACK {final.connack} ({CONNACK_MEANING.get(final.connack, '?')})"
        elif final.kind is Kind.SUBSCRIBE:
            outcome = "SUBACK 0x80 (failure)"
        else:
            outcome = "the message is dropped"
        lines.append(f"result: REFUSED — {outcome}; reason {final.reason.code.value}: {final.reason.text}")
    fix = explanation.fix
    if fix is not None:
        lines.append(f"suggested fix: {fix.description}")
        if fix.command:
            lines.append(f"  run: {fix.command}")
    return lines
