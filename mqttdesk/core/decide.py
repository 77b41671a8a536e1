"""The auth rules themselves: pure functions from a request and a `Directory` snapshot to a `Decision`.

Password verification is slow by design, so it is not done here: the caller asks `password_hash_for` which hash
the password must match, verifies it off the event loop (or from a cache), and passes the outcome in. The same
functions serve the broker, the dry-run explainer and the re-validation of live sessions after a store change.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from mqttdesk.core.acl import Access, AclVerdict, Subject, check_subscription, check_topic
from mqttdesk.core.decision import ConnectRequest, Decision, Grant, Kind, SessionHolder
from mqttdesk.core.errors import ValidationError
from mqttdesk.core.model import ANONYMOUS_REF, CredentialKind, CredentialRef, Directory, Method, User
from mqttdesk.core.reasons import Reason, ReasonCode, connack_code
from mqttdesk.core.states import CredentialState
from mqttdesk.core.topics import validate_topic_filter, validate_topic_name


def format_time(timestamp: float) -> str:
    """Local time to the minute, as people read it in a log sentence."""
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(timestamp))


def password_hash_for(request: ConnectRequest, directory: Directory) -> str | None:
    """The stored hash the CONNECT password has to match, or None when no password check applies."""
    if not request.username or request.password is None:
        return None
    user = directory.users.get(request.username)
    return user.password_hash if user is not None else None


class _Path:
    """Collects the human-readable steps of one decision."""

    def __init__(self, request: ConnectRequest) -> None:
        self.request = request
        self.steps: list[str] = []

    def add(self, step: str) -> None:
        self.steps.append(step)

    def refuse(self, code: ReasonCode, text: str, method: Method | None = None) -> Decision:
        self.steps.append(f"refused: {text}")
        return Decision(
            kind=Kind.CONNECT,
            allowed=False,
            reason=Reason(code, text),
            client_id=self.request.client_id,
            username=self.request.username,
            method=method,
            address=self.request.address,
            steps=tuple(self.steps),
            connack=connack_code(code, False),
        )

    def accept(self, code: ReasonCode, text: str, grant: Grant, takes_over: SessionHolder | None) -> Decision:
        self.steps.append(f"accepted: {text}")
        return Decision(
            kind=Kind.CONNECT,
            allowed=True,
            reason=Reason(code, text),
            client_id=self.request.client_id,
            username=self.request.username,
            method=grant.method,
            address=self.request.address,
            steps=tuple(self.steps),
            connack=connack_code(code, True),
            grant=grant,
            takes_over=takes_over,
        )


def _state_refusal(path: _Path, label: str, state: CredentialState, since: float, method: Method) -> Decision | None:
    if state is CredentialState.SUSPENDED:
        return path.refuse(ReasonCode.SUSPENDED, f"{label} is suspended since {format_time(since)}", method)
    if state is CredentialState.REVOKED:
        return path.refuse(ReasonCode.REVOKED, f"{label} was revoked on {format_time(since)}", method)
    return None


def _describe_holder(holder: SessionHolder) -> str:
    who = f"user '{holder.username}'" if holder.username else "an anonymous client"
    where = f" from {holder.address}" if holder.address else ""
    return f"{who}, connected since {format_time(holder.connected_since)}{where}"


def _client_id_check(
    path: _Path, credential: CredentialRef, live: Mapping[str, SessionHolder], method: Method
) -> tuple[Decision | None, SessionHolder | None]:
    """Refuse an id held by another credential; the same credential takes its own session over, as MQTT says."""
    request = path.request
    if not request.client_id:  # clean session, but the broker assigned no id
        text = "the clientId is empty and the broker assigned none"
        return path.refuse(ReasonCode.CLIENT_ID_EMPTY, text, method), None
    holder = live.get(request.client_id)
    if holder is None:
        path.add(f"clientId '{request.client_id}' is free")
        return None, None
    if holder.credential == credential:
        path.add(f"clientId '{request.client_id}' is connected with the same credential: the new connection takes over")
        return None, holder
    return path.refuse(
        ReasonCode.CLIENT_ID_IN_USE,
        f"clientId '{request.client_id}' is already in use by {_describe_holder(holder)}",
        method,
    ), None


def decide_connect(
    request: ConnectRequest,
    directory: Directory,
    *,
    password_ok: bool | None,
    live: Mapping[str, SessionHolder],
) -> Decision:
    """Decide a CONNECT. `password_ok` is the outcome of checking the hash from `password_hash_for`."""
    path = _Path(request)
    if not request.client_id and not request.clean_session:
        path.add("empty clientId with clean session false")
        return path.refuse(ReasonCode.CLIENT_ID_EMPTY, "an empty clientId is only allowed with clean session")
    if not request.username:
        if request.password is not None:
            return path.refuse(ReasonCode.MISSING_USERNAME, "a password was sent without a username")
        return _decide_anonymous(path, directory, live)
    user = directory.users.get(request.username)
    if user is None:
        path.add(f"username '{request.username}' → not a user")
        return path.refuse(ReasonCode.UNKNOWN_USER, f"no user named '{request.username}'")
    return _decide_user(path, user, password_ok, live, directory)


def _decide_anonymous(path: _Path, directory: Directory, live: Mapping[str, SessionHolder]) -> Decision:
    path.add("no username → anonymous")
    policy = directory.anonymous
    if not policy.enabled:
        return path.refuse(
            ReasonCode.ANONYMOUS_REFUSED, "anonymous access is off; the client must send a username and password"
        )
    scope = f" with roles {', '.join(policy.roles)}" if policy.roles else " for all topics"
    path.add("anonymous access is on" + scope)
    refusal, holder = _client_id_check(path, ANONYMOUS_REF, live, Method.ANONYMOUS)
    if refusal:
        return refusal
    grant = Grant(Method.ANONYMOUS, ANONYMOUS_REF, None, path.request.client_id)
    refusal = _will_refusal(path, grant, directory, Method.ANONYMOUS)
    if refusal:
        return refusal
    return path.accept(ReasonCode.ANONYMOUS_ALLOWED, "anonymous access is on", grant, holder)


def _will_refusal(path: _Path, grant: Grant, directory: Directory, method: Method) -> Decision | None:
    """A will is published on the client's behalf later, so its topic must be writable now (as Mosquitto 2 does)."""
    will_topic = path.request.will_topic
    if will_topic is None:
        return None
    verdict = decide_topic(Kind.PUBLISH, grant, will_topic, directory)
    if verdict.allowed:
        path.add(f"will topic '{will_topic}' may be published")
        return None
    path.add(f"will topic '{will_topic}': {verdict.reason.text}")
    return path.refuse(verdict.reason.code, f"the will message may not be published: {verdict.reason.text}", method)


def _decide_user(
    path: _Path, user: User, password_ok: bool | None, live: Mapping[str, SessionHolder], directory: Directory
) -> Decision:
    label = f"user '{user.name}'"
    path.add(f"username '{user.name}' → {label} ({user.state.value})")
    if path.request.password is None:
        return path.refuse(ReasonCode.MISSING_PASSWORD, f"{label} sent no password", Method.PASSWORD)
    if not password_ok:
        path.add("password ✗")
        return path.refuse(ReasonCode.BAD_PASSWORD, f"wrong password for {label}", Method.PASSWORD)
    path.add("password ✓")
    refusal = _state_refusal(path, label, user.state, user.state_since, Method.PASSWORD)
    if refusal:
        return refusal
    refusal, holder = _client_id_check(path, user.ref, live, Method.PASSWORD)
    if refusal:
        return refusal
    grant = Grant(Method.PASSWORD, user.ref, user.name, path.request.client_id)
    refusal = _will_refusal(path, grant, directory, Method.PASSWORD)
    if refusal:
        return refusal
    return path.accept(ReasonCode.AUTHENTICATED, f"{label} authenticated by password", grant, holder)


def revalidate(grant: Grant, directory: Directory, password_hash: str | None) -> str | None:
    """Why a live session admitted by `grant` must end after a store change, or None when it may stay.

    `password_hash` is the hash the session was admitted with: a password change ends the session too.
    """
    ref = grant.credential
    if ref.kind is CredentialKind.ANONYMOUS:
        return None if directory.anonymous.enabled else "anonymous access was turned off"
    if ref.kind is CredentialKind.USER:
        user = directory.users.get(ref.name)
        if user is None:
            return f"user '{ref.name}' was deleted"
        if user.state is CredentialState.SUSPENDED:
            return f"user '{ref.name}' was suspended"
        if user.state is CredentialState.REVOKED:
            return f"user '{ref.name}' was revoked"
        if password_hash is not None and user.password_hash != password_hash:
            return f"the password of user '{ref.name}' was changed"
    return None


def roles_of(grant: Grant, directory: Directory) -> tuple[str, ...] | None:
    """The roles whose rules apply to a session now; None means unrestricted (anonymous without roles)."""
    ref = grant.credential
    if ref.kind is CredentialKind.ANONYMOUS:
        return None if directory.anonymous.unrestricted else directory.anonymous.roles
    if ref.kind is CredentialKind.USER:
        user = directory.users.get(ref.name)
        return user.roles if user is not None else ()
    return ()


_ACCESS_BY_KIND = {Kind.PUBLISH: Access.WRITE, Kind.RECEIVE: Access.READ, Kind.SUBSCRIBE: Access.READ}
_VERB_BY_KIND = {Kind.PUBLISH: "publish to", Kind.RECEIVE: "receive from", Kind.SUBSCRIBE: "subscribe to"}


def decide_topic(kind: Kind, grant: Grant, topic: str, directory: Directory) -> Decision:
    """Decide a SUBSCRIBE filter, a PUBLISH topic, or the delivery (RECEIVE) of a message to a subscriber."""
    who = f"user '{grant.username}'" if grant.username else "anonymous client"
    if grant.method is not Method.PASSWORD and grant.username:
        who = f"{grant.method.value} '{grant.username}'"
    verb = _VERB_BY_KIND[kind]
    roles = roles_of(grant, directory)
    steps = [f"{who} (clientId '{grant.client_id}') wants to {verb} '{topic}'"]
    try:
        (validate_topic_filter if kind is Kind.SUBSCRIBE else validate_topic_name)(topic)
    except ValidationError as exc:
        return _topic_decision(kind, grant, topic, False, ReasonCode.BAD_TOPIC, str(exc), steps)
    if kind is Kind.PUBLISH and (topic == "$SYS" or topic.startswith("$SYS/")):
        return _topic_decision(kind, grant, topic, False, ReasonCode.RESERVED_TOPIC,
                               f"{who} may not publish to '{topic}': $SYS topics belong to the broker", steps)
    if roles is None:
        steps.append("anonymous access has no roles: every topic is allowed")
        return _topic_decision(kind, grant, topic, True, ReasonCode.ACL_ALLOWED,
                               "anonymous access without roles allows every topic", steps)
    steps.append(f"roles: {', '.join(roles)}" if roles else "no roles")
    rules = directory.rules_of(roles)
    subject = Subject(grant.username, grant.client_id, grant.tenant)
    verdict: AclVerdict
    if kind is Kind.SUBSCRIBE:
        verdict = check_subscription(rules, topic, subject)
    else:
        verdict = check_topic(rules, topic, _ACCESS_BY_KIND[kind], subject)
    if verdict.rule is not None:
        steps.append(f"rule: {verdict.rule.describe()}")
    if verdict.allowed:
        text = f"{who} may {verb} '{topic}' ({verdict.rule.describe() if verdict.rule else 'allowed'})"
        return _topic_decision(kind, grant, topic, True, ReasonCode.ACL_ALLOWED, text, steps)
    if verdict.rule is not None:
        text = f"{who} may not {verb} '{topic}': {verdict.rule.describe()}"
        return _topic_decision(kind, grant, topic, False, ReasonCode.ACL_DENIED, text, steps)
    access = _ACCESS_BY_KIND[kind].value
    scope = f"roles {', '.join(roles)}" if roles else "no roles"
    text = f"{who} may not {verb} '{topic}': {scope}, and no rule allows {access} there"
    return _topic_decision(kind, grant, topic, False, ReasonCode.ACL_NO_RULE, text, steps)


def _topic_decision(
    kind: Kind, grant: Grant, topic: str, allowed: bool, code: ReasonCode, text: str, steps: list[str]
) -> Decision:
    steps.append(("allowed: " if allowed else "refused: ") + text)
    return Decision(
        kind=kind,
        allowed=allowed,
        reason=Reason(code, text),
        client_id=grant.client_id,
        username=grant.username,
        method=grant.method,
        topic=topic,
        steps=tuple(steps),
    )

