"""Topic decisions: may this session subscribe to a filter, publish to a topic, receive a message?

Roles are looked up in the current `Directory` at every decision (the pipeline caches the result until the next
store change), so a role change applies to live sessions at once.

A clientId, username or tenant that a `%c`/`%u`/`%t` rule cannot use safely (see `acl.UnsafeValue`) is named in
the decision: in its steps and in its sentence, with the rules it changed, so the Auth log says why a deny rule
about `sensors/%c/locked/#` refused a publish to `sensors/a/b/x` (or why an allow rule did not help).
"""

from __future__ import annotations

from mqttdesk.core.acl import (
    SESSION_RULES,
    Access,
    AclVerdict,
    Rule,
    Subject,
    UnsafeValue,
    check_subscription,
    check_topic,
    unsafe_value,
)
from mqttdesk.core.decision import Decision, Grant, Kind
from mqttdesk.core.errors import ValidationError
from mqttdesk.core.model import Directory
from mqttdesk.core.reasons import Reason, ReasonCode
from mqttdesk.core.sources import source_of
from mqttdesk.core.topics import validate_topic_filter, validate_topic_name


def roles_of(grant: Grant, directory: Directory) -> tuple[str, ...] | None:
    """The roles whose rules apply to a session now; None means unrestricted (anonymous without roles).

    A device gets its own roles plus those of the bootstrap credential that registered it (while that exists).
    """
    return source_of(grant.credential.kind).roles(grant, directory)


def describe_subject(grant: Grant) -> str:
    """How a sentence names the client a topic decision is about."""
    return source_of(grant.credential.kind).subject_words(grant)


_ACCESS_BY_KIND = {Kind.PUBLISH: Access.WRITE, Kind.RECEIVE: Access.READ, Kind.SUBSCRIBE: Access.READ}
_VERB_BY_KIND = {Kind.PUBLISH: "publish to", Kind.RECEIVE: "receive from", Kind.SUBSCRIBE: "subscribe to"}


def decide_topic(kind: Kind, grant: Grant, topic: str, directory: Directory) -> Decision:
    """Decide a SUBSCRIBE filter, a PUBLISH topic, or the delivery (RECEIVE) of a message to a subscriber."""
    who = describe_subject(grant)
    verb = _VERB_BY_KIND[kind]
    roles = roles_of(grant, directory)
    client = "" if who.startswith("device") else f" (clientId '{grant.client_id}')"
    steps = [f"{who}{client} wants to {verb} '{topic}'"]
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
    if grant.rules:  # the session's own (a token's acl claim), after its roles'
        steps.append(f"{len(grant.rules)} rule{'s' * (len(grant.rules) != 1)} of {SESSION_RULES}")
        rules += grant.rules
    subject = _subject(grant)
    verdict: AclVerdict
    if kind is Kind.SUBSCRIBE:
        verdict = check_subscription(rules, topic, subject)
    else:
        verdict = check_topic(rules, topic, _ACCESS_BY_KIND[kind], subject)
    if verdict.unsafe is not None:
        steps.append(verdict.unsafe.describe())
    if verdict.rule is not None:
        applies = " (applies to every topic: deny wins)" if verdict.unsafe is not None else ""
        steps.append(f"rule: {verdict.rule.describe()}{applies}")
    if verdict.allowed:
        text = f"{who} may {verb} '{topic}' ({verdict.rule.describe() if verdict.rule else 'allowed'})"
        return _topic_decision(kind, grant, topic, True, ReasonCode.ACL_ALLOWED, text, steps, verdict, roles)
    if verdict.rule is not None:
        text = f"{who} may not {verb} '{topic}': {verdict.rule.describe()}"
        if verdict.unsafe is not None:
            text = (f"{who} may not {verb} '{topic}': {verdict.unsafe.describe()}; {verdict.rule.describe()}, "
                    "and a deny rule that cannot be applied safely applies to every topic")
        return _topic_decision(kind, grant, topic, False, ReasonCode.ACL_DENIED, text, steps, verdict, roles)
    for rule, unsafe in verdict.skipped:
        steps.append(f"not applied: {rule.describe()} ({unsafe.describe()})")
    access = _ACCESS_BY_KIND[kind].value
    scope = f"roles {', '.join(roles)}" if roles else "no roles"
    if grant.rules:
        scope += f" and {SESSION_RULES}"
    text = f"{who} may not {verb} '{topic}': {scope}, and no rule allows {access} there{_skipped_text(verdict.skipped)}"
    return _topic_decision(kind, grant, topic, False, ReasonCode.ACL_NO_RULE, text, steps, verdict, roles)


def _subject(grant: Grant) -> Subject:
    return Subject(grant.username, grant.client_id, grant.tenant)


def _skipped_text(skipped: tuple[tuple[Rule, UnsafeValue], ...]) -> str:
    """"; clientId 'a/b' contains '/', so rules with %c cannot be applied safely (not applied: 'devices/%c/#')"."""
    filters: dict[UnsafeValue, list[str]] = {}
    for rule, unsafe in skipped:
        filters.setdefault(unsafe, []).append(f"'{rule.topic_filter}'")
    return "".join(f"; {unsafe.describe()} (not applied: {', '.join(dict.fromkeys(names))})"
                   for unsafe, names in filters.items())


def unsafe_value_notes(grant: Grant, directory: Directory) -> list[str]:
    """Steps for an accepted CONNECT: the values of this session that rules of its roles cannot use safely.

    The session's topic decisions say the same when they happen; noting it at CONNECT puts the odd clientId in
    the Auth log even before the first refused publish.
    """
    roles = roles_of(grant, directory)
    if not roles:
        return []
    filters = _pattern_filters(roles, directory)
    if not filters:
        return []
    subject = _subject(grant)
    found = dict.fromkeys(unsafe for topic_filter in filters if (unsafe := unsafe_value(topic_filter, subject)))
    return [f"note: {unsafe.describe()}: deny rules with {unsafe.pattern} apply to every topic, allow rules with "
            f"{unsafe.pattern} do not apply" for unsafe in found]


# the rule filters with a pattern (%u, %c, %t), per combination of roles, for one snapshot's roles (by identity:
# a registration replaces the snapshot but keeps its roles). Asked at every CONNECT; most roles have none.
_pattern_cache: tuple[object, dict[tuple[str, ...], tuple[str, ...]]] = (None, {})


def _pattern_filters(roles: tuple[str, ...], directory: Directory) -> tuple[str, ...]:
    global _pattern_cache
    source, cached = _pattern_cache
    if source is not directory.roles:
        cached = {}
        _pattern_cache = (directory.roles, cached)
    filters = cached.get(roles)
    if filters is None:
        filters = cached[roles] = tuple(rule.topic_filter for rule in directory.rules_of(roles)
                                        if "%" in rule.topic_filter)
    return filters


def subscription_limit_decision(grant: Grant, topic_filter: str, limit: int) -> Decision:
    """A SUBSCRIBE filter the ACL allows, refused because the session already holds `limit` subscriptions."""
    who = describe_subject(grant)
    client = "" if who.startswith("device") else f" (clientId '{grant.client_id}')"
    steps = [f"{who}{client} wants to subscribe to '{topic_filter}'",
             f"the session already holds {limit:,} subscriptions, the limit (max_subscriptions_per_client)"]
    text = (f"{who} may not subscribe to '{topic_filter}': it already holds {limit:,} subscriptions "
            "(max_subscriptions_per_client); this and further new filters get SUBACK 0x80")
    return _topic_decision(Kind.SUBSCRIBE, grant, topic_filter, False, ReasonCode.SUBSCRIPTION_LIMIT, text, steps)


def retained_limit_decision(grant: Grant, topic: str, why: str) -> Decision:
    """A PUBLISH with retain set, delivered, whose retained copy the broker's limits did not keep (`why`)."""
    who = describe_subject(grant)
    client = "" if who.startswith("device") else f" (clientId '{grant.client_id}')"
    steps = [f"{who}{client} publishes a retained message on '{topic}'",
             "it was delivered to the current subscribers"]
    text = (f"the retained message of {who} on '{topic}' was not kept: {why}; new subscribers will not get it "
            "(further ones of this session are counted in the Clients view)")
    return _topic_decision(Kind.PUBLISH, grant, topic, False, ReasonCode.RETAINED_LIMIT, text, steps)


def _topic_decision(
    kind: Kind, grant: Grant, topic: str, allowed: bool, code: ReasonCode, text: str, steps: list[str],
    verdict: AclVerdict | None = None, roles: tuple[str, ...] | None = None,
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
        rule=verdict.rule if verdict is not None else None,
        roles=roles,
    )

