"""Topic permissions: rules, `%u`/`%c`/`%t` patterns and the deny-wins evaluation.

A rule belongs to a role and says allow or deny, `read` / `write` / `readwrite`, on a topic filter. Evaluation:
an explicit deny that applies beats any allow; with no applicable allow, the answer is deny (deny by default).

For SUBSCRIBE the filter itself is judged: it is refused when a deny rule covers all of it, or when no allow rule
reaches any topic in it. A broad subscription (`#` while `secret/#` is denied) is granted; the per-message `read`
check then keeps the denied messages from being delivered.

Patterns are whole levels (`validate_rule_filter`), so a value always stands for exactly one level. A value is
substituted only when it is *safe*: one ordinary level, i.e. no `/` (it would add levels), no `+` or `#` (it would
turn into a wildcard) and no leading `$` (it could turn the filter into one for `$SYS`). A missing value (no
username, no tenant) means the rule is not about this client: it applies neither as allow nor as deny, so a user
without a tenant is not locked out by `deny tenants/%t/...`. An unsafe value is different; see `UnsafeValue`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from mqttdesk.core.clip import clip
from mqttdesk.core.errors import ValidationError
from mqttdesk.core.topics import filter_covers, filters_intersect, topic_matches, validate_topic_filter


class Permission(StrEnum):
    READ = "read"
    WRITE = "write"
    READWRITE = "readwrite"

    def grants(self, access: Access) -> bool:
        return self is Permission.READWRITE or self.value == access.value


class Access(StrEnum):
    """What a client does with a topic: `read` (subscribe / receive) or `write` (publish)."""

    READ = "read"
    WRITE = "write"


class Effect(StrEnum):
    ALLOW = "allow"
    DENY = "deny"


@dataclass(frozen=True, slots=True)
class Rule:
    role: str
    topic_filter: str
    permission: Permission
    effect: Effect = Effect.ALLOW

    def describe(self) -> str:
        verb = "allows" if self.effect is Effect.ALLOW else "denies"
        who = f"role '{self.role}'" if self.role else SESSION_RULES
        return f"{who} {verb} {self.permission.value} on '{self.topic_filter}'"


SESSION_RULES = "its token's acl claim"  # how a rule of one session (`Grant.rules`, role "") is named


@dataclass(frozen=True, slots=True)
class Subject:
    """Who is asking: the values that `%u`, `%c` and `%t` expand to."""

    username: str | None
    client_id: str
    tenant: str | None = None


@dataclass(frozen=True, slots=True)
class AclVerdict:
    allowed: bool
    rule: Rule | None  # the rule that decided; None when nothing applied (deny by default)
    unsafe: UnsafeValue | None = None  # why the deciding deny rule applied to every topic
    skipped: tuple[tuple[Rule, UnsafeValue], ...] = ()  # allow rules that did not apply because of an unsafe value


_PATTERN_FORBIDDEN = ("/", "+", "#")
_PATTERN_SUBJECTS = {"%u": "username", "%c": "clientId", "%t": "tenant"}


@dataclass(frozen=True, slots=True)
class UnsafeValue:
    """A pattern whose value is present but cannot be substituted safely, and why.

    Such a rule fails closed both ways: an allow rule does not apply, and a deny rule applies to *every* topic its
    permission covers, whatever the rest of its filter says. Working out what `sensors/%c/locked/#` was meant to
    cover for clientId `a/b` (`sensors/a/b/locked/#`, with `locked` one level further down?), for `+` (every
    client's `locked`?) or for `#` (which cannot stand in the middle of a filter) means guessing the intent of a
    rule that cannot be applied as written. Each guess needs its own argument that it is never narrower than the
    rule meant, and one that is lets a denied client through, which is what a deny rule exists to prevent.
    Matching everything is the one reading that cannot be narrower. Patterns are whole levels, so this is about
    values, not where a pattern sits; inside a level (`dev-%c`, refused today) the same values would be just as
    unsafe. The price is paid only by clients whose clientId or username holds a wildcard or a level separator
    or starts with `$`, which no device needs, and the decision names the value and the rule.
    """

    pattern: str  # "%u", "%c" or "%t"
    value: str
    problem: str  # "contains '/'", "starts with '$'"

    def describe(self) -> str:
        """E.g. "clientId 'a/b' contains '/', so rules with %c cannot be applied safely"."""
        return (f"{_PATTERN_SUBJECTS[self.pattern]} '{self.value}' {self.problem}, "
                f"so rules with {self.pattern} cannot be applied safely")


def value_problem(value: str) -> str | None:
    """Why a present pattern value is unsafe to substitute ("contains '/'", "starts with '$'"), or None if safe."""
    for char in value:
        if char in _PATTERN_FORBIDDEN:
            return f"contains '{char}'"
    # refused at any level, not only the first one where it would reach $SYS: simpler to state, and no device needs it
    return "starts with '$'" if value.startswith("$") else None


def _pattern_values(subject: Subject) -> dict[str, str | None]:
    return {"%u": subject.username, "%c": subject.client_id, "%t": subject.tenant}


def unsafe_value(topic_filter: str, subject: Subject) -> UnsafeValue | None:
    """The first pattern of a rule filter whose value is present but unsafe for this subject, or None."""
    if "%" not in topic_filter:
        return None
    values = _pattern_values(subject)
    for level in topic_filter.split("/"):
        value = values.get(level)
        if value:
            problem = value_problem(value)
            if problem is not None:
                return UnsafeValue(level, value, problem)
    return None


def validate_rule_filter(topic_filter: str) -> None:
    """A rule's filter is a topic filter that may also contain `%u`, `%c` and `%t` as whole levels."""
    validate_topic_filter(topic_filter)
    for level in topic_filter.split("/"):
        if "%" in level and level not in ("%u", "%c", "%t"):
            raise ValidationError(f"in {clip(topic_filter)!r}, a pattern must be a whole level: %u, %c or %t")


def expand(topic_filter: str, subject: Subject) -> str | None:
    """Substitute the patterns; None when a value is missing or would smuggle in a wildcard or a level separator."""
    if "%" not in topic_filter:
        return topic_filter
    values = _pattern_values(subject)
    levels = []
    for level in topic_filter.split("/"):
        if level in values:
            value = values[level]
            if not value or value_problem(value) is not None:
                return None
            levels.append(value)
        else:
            levels.append(level)
    return "/".join(levels)


class _Applicable:
    """The rules of one access for one subject, expanded; unsafe values sorted out (see `UnsafeValue`)."""

    def __init__(self, rules: Iterable[Rule], access: Access, subject: Subject) -> None:
        self.expanded: list[tuple[Rule, str]] = []
        self.unsafe_deny: tuple[Rule, UnsafeValue] | None = None
        skipped: list[tuple[Rule, UnsafeValue]] = []
        for rule in rules:
            if not rule.permission.grants(access):
                continue
            unsafe = unsafe_value(rule.topic_filter, subject)
            if unsafe is not None:
                if rule.effect is Effect.DENY:
                    self.unsafe_deny = self.unsafe_deny or (rule, unsafe)
                else:
                    skipped.append((rule, unsafe))
                continue
            expanded = expand(rule.topic_filter, subject)
            if expanded is not None:
                self.expanded.append((rule, expanded))
        self.skipped = tuple(skipped)

    def unsafe_verdict(self) -> AclVerdict | None:
        if self.unsafe_deny is None:
            return None
        rule, unsafe = self.unsafe_deny
        return AclVerdict(False, rule, unsafe=unsafe)


def check_topic(rules: Iterable[Rule], topic: str, access: Access, subject: Subject) -> AclVerdict:
    """Judge one concrete topic (a PUBLISH, or a message about to be delivered)."""
    applicable = _Applicable(rules, access, subject)
    unsafe = applicable.unsafe_verdict()
    if unsafe is not None:
        return unsafe
    allow: Rule | None = None
    for rule, expanded in applicable.expanded:
        if not topic_matches(expanded, topic):
            continue
        if rule.effect is Effect.DENY:
            return AclVerdict(False, rule)
        allow = allow or rule
    return AclVerdict(allow is not None, allow, skipped=applicable.skipped)


def check_subscription(rules: Iterable[Rule], topic_filter: str, subject: Subject) -> AclVerdict:
    """Judge a SUBSCRIBE filter (see the module docstring)."""
    applicable = _Applicable(rules, Access.READ, subject)
    unsafe = applicable.unsafe_verdict()
    if unsafe is not None:
        return unsafe
    allow: Rule | None = None
    for rule, expanded in applicable.expanded:
        if rule.effect is Effect.DENY:
            if filter_covers(expanded, topic_filter):
                return AclVerdict(False, rule)
        elif allow is None and filters_intersect(expanded, topic_filter):
            allow = rule
    return AclVerdict(allow is not None, allow, skipped=applicable.skipped)
