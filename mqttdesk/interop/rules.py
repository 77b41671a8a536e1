"""A credential's rules as another broker needs them: flattened from its roles, `%u` and `%t` bound to its name.

Mosquitto's `pattern` lines and dynamic-security ACLs know `%u` and `%c` but not `%t`, and their patterns apply
to everybody; EMQX's `acl.conf` knows `${username}` and `${clientid}`. Binding `%u` and `%t` to the credential's
own values keeps a rule the credential's alone; only `%c` has to stay a pattern (its value is known at CONNECT).
A value that cannot be substituted safely fails closed, as in mqttdesk (`core.acl.UnsafeValue`): the allow rule is
left out, the deny rule covers every topic.
"""

from __future__ import annotations

from dataclasses import dataclass

from mqttdesk.core.acl import Effect, Permission, Rule, value_problem
from mqttdesk.core.model import Directory
from mqttdesk.core.names import tenant_of


@dataclass(frozen=True, slots=True)
class BoundRule:
    rule: Rule  # the mqttdesk rule it comes from
    topic_filter: str  # `%u` and `%t` substituted; may still hold `%c`

    @property
    def effect(self) -> Effect:
        return self.rule.effect

    @property
    def permission(self) -> Permission:
        return self.rule.permission

    @property
    def per_client(self) -> bool:
        return "%c" in self.topic_filter.split("/")


def bind_rules(username: str | None, roles: tuple[str, ...], directory: Directory, *,
               client_id: str | None = None, extra: tuple[Rule, ...] = ()) -> list[BoundRule]:
    """The rules of `roles` (then `extra`) for a credential named `username`, deny rules first (mqttdesk's deny
    wins, and the targets that decide by order or priority must see them first). With `client_id`, `%c` is bound
    too (a session's own list, as EMQX takes at login)."""
    values = {"%u": username, "%t": tenant_of(username)}
    if client_id is not None:
        values["%c"] = client_id
    bound: list[BoundRule] = []
    for rule in (*directory.rules_of(roles), *extra):
        levels: list[str] | None = []
        for level in rule.topic_filter.split("/"):
            if level not in values:
                assert levels is not None
                levels.append(level)
                continue
            value = values[level]
            if not value:
                levels = None  # a missing value: the rule is not about this credential, allow or deny
                break
            if value_problem(value) is not None:
                levels = ["#"] if rule.effect is Effect.DENY else None  # fails closed, as in mqttdesk
                break
            assert levels is not None
            levels.append(value)
        if levels is not None:
            bound.append(BoundRule(rule, "/".join(levels)))
    return sorted(bound, key=lambda b: b.effect is not Effect.DENY)
