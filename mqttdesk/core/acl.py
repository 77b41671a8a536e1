"""Topic permissions: rules, `%u`/`%c`/`%t` patterns and the deny-wins evaluation.

A rule belongs to a role and says allow or deny, `read` / `write` / `readwrite`, on a topic filter. Evaluation:
an explicit deny that applies beats any allow; with no applicable allow, the answer is deny (deny by default).

For SUBSCRIBE the filter itself is judged: it is refused when a deny rule covers all of it, or when no allow rule
reaches any topic in it. A broad subscription (`#` while `secret/#` is denied) is granted; the per-message `read`
check then keeps the denied messages from being delivered.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

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
        return f"role '{self.role}' {verb} {self.permission.value} on '{self.topic_filter}'"


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


_PATTERN_FORBIDDEN = ("/", "+", "#")


def validate_rule_filter(topic_filter: str) -> None:
    """A rule's filter is a topic filter that may also contain `%u`, `%c` and `%t` as whole levels."""
    validate_topic_filter(topic_filter)
    for level in topic_filter.split("/"):
        if "%" in level and level not in ("%u", "%c", "%t"):
            raise ValidationError(f"in {topic_filter!r}, a pattern must be a whole level: %u, %c or %t")


def expand(topic_filter: str, subject: Subject) -> str | None:
    """Substitute the patterns; None when a value is missing or would smuggle in a wildcard or a level separator."""
    if "%" not in topic_filter:
        return topic_filter
    values = {"%u": subject.username, "%c": subject.client_id, "%t": subject.tenant}
    levels = []
    for level in topic_filter.split("/"):
        if level in values:
            value = values[level]
            # a value must not smuggle in wildcards or levels, nor turn the filter into a $-topic filter
            if not value or any(char in value for char in _PATTERN_FORBIDDEN) or value.startswith("$"):
                return None
            levels.append(value)
        else:
            levels.append(level)
    return "/".join(levels)


def _applicable(rules: Iterable[Rule], access: Access, subject: Subject) -> Iterable[tuple[Rule, str]]:
    for rule in rules:
        if not rule.permission.grants(access):
            continue
        expanded = expand(rule.topic_filter, subject)
        if expanded is not None:
            yield rule, expanded


def check_topic(rules: Iterable[Rule], topic: str, access: Access, subject: Subject) -> AclVerdict:
    """Judge one concrete topic (a PUBLISH, or a message about to be delivered)."""
    allow: Rule | None = None
    for rule, expanded in _applicable(rules, access, subject):
        if not topic_matches(expanded, topic):
            continue
        if rule.effect is Effect.DENY:
            return AclVerdict(False, rule)
        allow = allow or rule
    return AclVerdict(allow is not None, allow)


def check_subscription(rules: Iterable[Rule], topic_filter: str, subject: Subject) -> AclVerdict:
    """Judge a SUBSCRIBE filter (see the module docstring)."""
    allow: Rule | None = None
    for rule, expanded in _applicable(rules, Access.READ, subject):
        if rule.effect is Effect.DENY:
            if filter_covers(expanded, topic_filter):
                return AclVerdict(False, rule)
        elif allow is None and filters_intersect(expanded, topic_filter):
            allow = rule
    return AclVerdict(allow is not None, allow)
