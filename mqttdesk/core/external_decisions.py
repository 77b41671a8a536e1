"""The external HTTP service's answers as decisions: a CONNECT's `SourceAnswer`, and the topic decisions of the
clients it admitted (the Auth log shows the request sent, never the password, and the answer)."""

from __future__ import annotations

from mqttdesk.core.decision import ConnectRequest, Decision, Grant, Kind, SourceAnswer
from mqttdesk.core.errors import ValidationError
from mqttdesk.core.external import Acc, Answer, ExternalSettings
from mqttdesk.core.model import CredentialKind, CredentialRef, Method
from mqttdesk.core.names import tenant_of
from mqttdesk.core.reasons import Reason, ReasonCode
from mqttdesk.core.topics import validate_topic_filter, validate_topic_name

ACC_OF_KIND = {Kind.SUBSCRIBE: Acc.SUBSCRIBE, Kind.PUBLISH: Acc.PUBLISH, Kind.RECEIVE: Acc.DELIVERY}
_VERB = {Kind.PUBLISH: "publish to", Kind.RECEIVE: "receive from", Kind.SUBSCRIBE: "subscribe to"}


def connect_answer(settings: ExternalSettings, request: ConnectRequest, answer: Answer, shown_request: str,
                   will: Decision | None = None) -> SourceAnswer:
    """The service's answer to a CONNECT's user check (and, when it has a will, the will topic's ACL check)."""
    username = str(request.username)
    steps = [f"external HTTP service: POST {settings.user_url()} {shown_request}", f"answer: {answer.text}"]
    if not answer.allowed:
        assert answer.code is not None
        text = _refusal_words(f"external user '{username}'", answer)
        return SourceAnswer(Method.HTTP, tuple(steps), refusal=Reason(answer.code, text))
    grant = Grant(Method.HTTP, CredentialRef(CredentialKind.EXTERNAL, username), username, request.client_id,
                  tenant_of(username), verified_with=settings.fingerprint)
    if will is not None:
        steps.append(f"will topic '{will.topic}': {will.reason.text}")
        if not will.allowed:
            return SourceAnswer(Method.HTTP, tuple(steps), refusal=Reason(
                will.reason.code, f"the will message may not be published: {will.reason.text}"))
    return SourceAnswer(Method.HTTP, tuple(steps), grant=grant, topics_elsewhere=True,
                        text=f"external user '{username}' admitted by the external HTTP service ({answer.text})")


def _refusal_words(who: str, answer: Answer) -> str:
    if answer.code is ReasonCode.EXTERNAL_DENIED:
        return f"the external HTTP service refused {who} ({answer.text})"
    if answer.code is ReasonCode.EXTERNAL_ERROR:
        return f"the external HTTP service failed for {who} ({answer.text})"
    return f"the external HTTP service could not decide for {who}: {answer.text}"


def preflight(kind: Kind, grant: Grant, topic: str) -> Decision | None:
    """What is refused before the service is asked: a malformed topic, a publish to $SYS."""
    who = f"external user '{grant.username}'"
    try:
        (validate_topic_filter if kind is Kind.SUBSCRIBE else validate_topic_name)(topic)
    except ValidationError as exc:
        return _decision(kind, grant, topic, False, ReasonCode.BAD_TOPIC, str(exc), [])
    if kind is Kind.PUBLISH and (topic == "$SYS" or topic.startswith("$SYS/")):
        return _decision(kind, grant, topic, False, ReasonCode.RESERVED_TOPIC,
                         f"{who} may not publish to '{topic}': $SYS topics belong to the broker", [])
    return None


def topic_decision(kind: Kind, grant: Grant, topic: str, answer: Answer, settings: ExternalSettings,
                   shown_request: str) -> Decision:
    who = f"external user '{grant.username}'"
    verb = _VERB[kind]
    steps = [f"external HTTP service: POST {settings.acl_url()} {shown_request}", f"answer: {answer.text}"]
    if answer.allowed:
        return _decision(kind, grant, topic, True, ReasonCode.ACL_ALLOWED,
                         f"{who} may {verb} '{topic}' (the external HTTP service: {answer.text})", steps)
    assert answer.code is not None
    return _decision(kind, grant, topic, False, answer.code,
                     _refusal_words(f"{who} to {verb} '{topic}'", answer), steps)


def _decision(kind: Kind, grant: Grant, topic: str, allowed: bool, code: ReasonCode, text: str,
              steps: list[str]) -> Decision:
    steps = [f"external user '{grant.username}' (clientId '{grant.client_id}') wants to {_VERB[kind]} '{topic}'",
             *steps, ("allowed: " if allowed else "refused: ") + text]
    return Decision(kind=kind, allowed=allowed, reason=Reason(code, text), client_id=grant.client_id,
                    username=grant.username, method=Method.HTTP, topic=topic, steps=tuple(steps))
