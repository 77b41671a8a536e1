"""An import, planned before anything is written: what will be created, what clashes, what cannot be taken in.

Planning is pure (a `Directory` in, an `ImportPlan` out), so a dry run shows exactly what the real run would do;
`store/interop.py` applies a plan without clashes in one transaction, or nothing of it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mqttdesk.core.acl import Effect, Permission, Rule, validate_rule_filter
from mqttdesk.core.errors import ValidationError
from mqttdesk.core.model import Directory, Role
from mqttdesk.core.names import validate_name
from mqttdesk.core.passwords import hash_scheme
from mqttdesk.interop import dynsec
from mqttdesk.interop.mosquitto import ANONYMOUS_ROLE, PATTERNS_ROLE, AclLine
from mqttdesk.interop.report import Report

_PERMISSIONS = {"read": Permission.READ, "write": Permission.WRITE, "readwrite": Permission.READWRITE}


@dataclass(frozen=True, slots=True)
class PlannedUser:
    name: str
    password_hash: str | None = field(repr=False)  # None: a certificate-only user
    roles: tuple[str, ...]
    suspended: bool = False
    reserved_client_ids: tuple[str, ...] = ()


@dataclass(slots=True)
class ImportPlan:
    roles: list[Role] = field(default_factory=list)
    users: list[PlannedUser] = field(default_factory=list)
    clashes: list[str] = field(default_factory=list)
    report: Report = field(default_factory=lambda: Report("mqttdesk"))

    def check_clashes(self, directory: Directory) -> None:
        taken_users = set(directory.users) | set(directory.bootstraps)
        for role in self.roles:
            if role.name in directory.roles:
                self.clashes.append(f"role '{role.name}' exists already")
        for user in self.users:
            if user.name in taken_users:
                self.clashes.append(f"user '{user.name}' exists already")

    def lines(self) -> list[str]:
        out = [f"create role '{r.name}' ({len(r.rules)} rules)" for r in self.roles]
        for user in self.users:
            how = "certificate login" if user.password_hash is None else f"{hash_scheme(user.password_hash)} hash"
            state = ", suspended" if user.suspended else ""
            out.append(f"create user '{user.name}' ({how}{state}; roles: {', '.join(user.roles) or 'none'})")
        out += [f"clash: {clash}" for clash in self.clashes]
        return out + self.report.lines()[len(self.report.written):]

    def to_json(self) -> dict[str, Any]:
        return {"roles": [{"name": r.name, "rules": [{"topic_filter": x.topic_filter, "permission": x.permission.value,
                                                      "effect": x.effect.value} for x in r.rules]} for r in self.roles],
                "users": [{"name": u.name, "roles": list(u.roles), "suspended": u.suspended,
                           "login": "certificate" if u.password_hash is None else hash_scheme(u.password_hash)}
                          for u in self.users],
                "clashes": list(self.clashes), **{k: v for k, v in self.report.to_json().items() if k != "written"}}


def _merge(rules: list[Rule], rule: Rule) -> None:
    for index, existing in enumerate(rules):
        if existing.topic_filter == rule.topic_filter and existing.effect is rule.effect:
            if existing.permission is not rule.permission:
                rules[index] = Rule(rule.role, rule.topic_filter, Permission.READWRITE, rule.effect)
            return
    rules.append(rule)


def _rule(role: str, line: AclLine) -> Rule:
    try:
        validate_rule_filter(line.topic_filter)
    except ValidationError as exc:
        raise ValidationError(f"acl file line {line.line_number}: {exc}") from None
    if line.access == "deny":
        return Rule(role, line.topic_filter, Permission.READWRITE, Effect.DENY)
    return Rule(role, line.topic_filter, _PERMISSIONS[line.access])


def plan_mosquitto(passwords: list[tuple[str, str]], acl: list[AclLine] | None, directory: Directory) -> ImportPlan:
    """Users from a password file; with an ACL file, each user's `topic` lines become a role named after the user,
    the `pattern` lines one role every imported user gets, the anonymous lines a role of their own."""
    plan = ImportPlan()
    sections: dict[str | None, list[Rule]] = {}
    patterns: list[Rule] = []
    for line in acl or []:
        if line.pattern:
            _merge(patterns, _rule(PATTERNS_ROLE, line))
            continue
        role = ANONYMOUS_ROLE if line.user is None else line.user
        _merge(sections.setdefault(line.user, []), _rule(role, line))
    known = {name for name, _ in passwords}
    for user, rules in sections.items():
        name = ANONYMOUS_ROLE if user is None else user
        validate_name("role", name)
        plan.roles.append(Role(name, tuple(rules)))
        if user is None:
            plan.report.gap("anonymous clients", f"their lines are role '{ANONYMOUS_ROLE}': turn anonymous access on "
                            f"with it if wanted (mqttdesk anonymous on --role {ANONYMOUS_ROLE})")
        elif user not in known:
            plan.report.gap(f"user '{user}'", "has ACL lines but no password line: its role is created, the user "
                            "is not")
    if patterns:
        plan.roles.append(Role(PATTERNS_ROLE, tuple(patterns)))
        plan.report.gap("pattern lines", f"role '{PATTERNS_ROLE}', given to every imported user (in Mosquitto "
                        "they apply to anonymous clients too)")
    for name, encoded in passwords:
        validate_name("user", name)
        roles = tuple(r for r in (name if name in sections else None,
                                  PATTERNS_ROLE if patterns else None) if r is not None)
        plan.users.append(PlannedUser(name, encoded, roles))
    plan.check_clashes(directory)
    return plan


def plan_dynsec(data: Any, directory: Directory) -> ImportPlan:
    """Clients become users (a disabled one suspended), roles become roles (groups flattened into clients)."""
    roles, users, report = dynsec.parse_dynsec(data)
    plan = ImportPlan(report=report)
    for name, rules in roles.items():
        validate_name("role", name)
        merged: list[Rule] = []
        for rule in rules:
            _merge(merged, rule)
        plan.roles.append(Role(name, tuple(merged)))
    for user in users:
        validate_name("user", user["name"])
        plan.users.append(PlannedUser(user["name"], user["password_hash"], tuple(user["roles"]),
                                      user["suspended"], tuple(user["reserved"])))
    plan.check_clashes(directory)
    return plan
