"""Mosquitto's dynamic-security JSON (`mosquitto_dynamic_security.so`), written from and read into mqttdesk.

The plugin decides by order: a client's roles by priority, highest first, each role's ACLs by priority, and the
first ACL that matches decides. mqttdesk's "deny wins" is kept by giving every role's deny rules a role of their
own (`deny:ROLE`) at a higher priority than every allow. `%u` and `%t` are bound per user (a role `user:NAME`);
the plugin substitutes no patterns, so `%c` rules cannot be carried. A suspended user becomes a disabled client.
The hashes are mqttdesk's `$7$` ones split into the plugin's `password`, `salt` and `iterations`.
"""

from __future__ import annotations

import base64
from typing import Any

from mqttdesk.core.acl import Effect, Permission, Rule, validate_rule_filter
from mqttdesk.core.errors import ValidationError
from mqttdesk.core.model import Directory, User
from mqttdesk.core.passwords import hash_scheme, parse_hash
from mqttdesk.core.states import CredentialState
from mqttdesk.interop.mosquitto import report_common, report_inactive
from mqttdesk.interop.report import Report
from mqttdesk.interop.rules import BoundRule, bind_rules

TARGET = "Mosquitto dynamic security"
DENY_PREFIX = "deny:"
USER_PREFIX = "user:"
ANONYMOUS_GROUP = "anonymous"
ANONYMOUS_ALL = "anonymous-everything"
_READ_TYPES = ("publishClientReceive", "subscribePattern")
_WRITE_TYPES = ("publishClientSend",)
_TYPES = {Permission.READ: _READ_TYPES, Permission.WRITE: _WRITE_TYPES,
          Permission.READWRITE: _READ_TYPES + _WRITE_TYPES}
DEFAULT_ACCESS = {"publishClientSend": False, "publishClientReceive": False, "subscribe": False, "unsubscribe": True}


def _acls(rules: list[BoundRule]) -> list[dict[str, Any]]:
    return [{"acltype": acltype, "topic": bound.topic_filter, "priority": 0, "allow": bound.effect is Effect.ALLOW}
            for bound in rules for acltype in _TYPES[bound.permission]]


class _Roles:
    """The plugin's roles being built: one per (name), allows and denies apart."""

    def __init__(self) -> None:
        self.roles: dict[str, list[BoundRule]] = {}

    def add(self, name: str, rules: list[BoundRule]) -> None:
        self.roles.setdefault(name, [])
        for rule in rules:
            if rule not in self.roles[name]:
                self.roles[name].append(rule)

    def json(self) -> list[dict[str, Any]]:
        return [{"rolename": name, "acls": _acls(rules)} for name, rules in sorted(self.roles.items())]


def _client_roles(username: str | None, role_names: tuple[str, ...], directory: Directory, roles: _Roles,
                  report: Report, subject: str) -> list[dict[str, Any]]:
    """The plugin role list of one credential: its deny roles at priority 1, checked before its allow roles."""
    chosen: dict[str, int] = {}
    for role_name in role_names:
        bound = bind_rules(username, (role_name,), directory)
        own: list[BoundRule] = []
        common: list[BoundRule] = []
        for rule in bound:
            if rule.per_client:
                report.gap(subject, f"rule on '{rule.rule.topic_filter}' (role '{role_name}') left out: the "
                           "plugin substitutes no %c")
                continue
            (own if rule.topic_filter != rule.rule.topic_filter else common).append(rule)
        for rules, name in ((common, role_name), (own, f"{USER_PREFIX}{username}")):
            allows = [r for r in rules if r.effect is Effect.ALLOW]
            denies = [r for r in rules if r.effect is Effect.DENY]
            if allows or (rules is common and not denies):
                roles.add(name, allows)
                chosen.setdefault(name, 0)
            if denies:
                roles.add(DENY_PREFIX + name, denies)
                chosen[DENY_PREFIX + name] = 1
    return [{"rolename": name, "priority": priority} for name, priority in chosen.items()]


def _password_fields(user: User, report: Report) -> dict[str, Any]:
    subject = f"user '{user.name}'"
    if not user.auth.needs_password:
        report.gap(subject, "logs in with a certificate: a client without a password (the listener needs "
                   "use_identity_as_username)")
        return {}
    if hash_scheme(user.password_hash) != "pbkdf2-sha512":
        report.gap(subject, "password left out: the plugin keeps PBKDF2-SHA512 only; this user must set a new "
                   "password")
        return {}
    iterations, salt, key = parse_hash(user.password_hash)
    return {"password": base64.b64encode(key).decode(), "salt": base64.b64encode(salt).decode(),
            "iterations": iterations}


def export_dynsec(directory: Directory) -> tuple[dict[str, Any], Report]:
    report = Report(TARGET)
    roles = _Roles()
    clients: list[dict[str, Any]] = []
    for user in sorted(directory.users.values(), key=lambda u: u.name):
        subject = f"user '{user.name}'"
        if user.state is CredentialState.REVOKED:
            report.gap(subject, "left out: it is revoked")
            continue
        client: dict[str, Any] = {"username": user.name, "textname": "",
                                  "roles": _client_roles(user.name, user.roles, directory, roles, report, subject)}
        client.update(_password_fields(user, report))
        if user.state is CredentialState.SUSPENDED:
            client["disabled"] = True
        clients.append(client)
    report_inactive([u.name for u in directory.users.values() if u.state is CredentialState.INACTIVE], report)
    data: dict[str, Any] = {"defaultACLAccess": dict(DEFAULT_ACCESS), "clients": clients, "groups": []}
    anonymous = directory.anonymous
    if anonymous.enabled:
        group_roles = _client_roles(None, anonymous.roles, directory, roles, report, "anonymous clients")
        if anonymous.unrestricted:
            everything = Rule("", "#", Permission.READWRITE)
            roles.add(ANONYMOUS_ALL, [BoundRule(everything, "#")])
            group_roles.append({"rolename": ANONYMOUS_ALL, "priority": 0})
        data["groups"] = [{"groupname": ANONYMOUS_GROUP, "roles": group_roles, "clients": []}]
        data["anonymousGroup"] = ANONYMOUS_GROUP
        report.gap("anonymous clients", "the broker needs allow_anonymous true in its configuration too")
    data["roles"] = roles.json()
    report_common(directory, report)
    report.gap("subscriptions", "the plugin grants a subscription only inside an allowed filter; mqttdesk also "
               "grants a broader one and filters what it delivers")
    report.note(f"{len(clients)} clients, {len(data['roles'])} roles")
    return data, report


# -- reading it --------------------------------------------------------------------------------


def _rules_of_role(role: dict[str, Any], report: Report) -> list[Rule]:
    name = str(role.get("rolename") or "")
    merged: dict[tuple[str, Effect], Permission] = {}
    for acl in role.get("acls") or []:
        acltype, topic = str(acl.get("acltype", "")), str(acl.get("topic", ""))
        effect = Effect.ALLOW if acl.get("allow", False) else Effect.DENY
        if acltype in _WRITE_TYPES:
            permission = Permission.WRITE
        elif acltype in ("publishClientReceive", "subscribePattern", "subscribeLiteral"):
            permission = Permission.READ
        elif acltype.startswith("unsubscribe"):
            if effect is Effect.DENY:
                report.gap(f"role '{name}'", f"'{acltype}' deny on '{topic}' left out: mqttdesk lets every client "
                           "unsubscribe")
            continue
        else:
            raise ValidationError(f"role '{name}': unknown acltype '{acltype}'")
        try:
            validate_rule_filter(topic)
        except ValidationError as exc:
            raise ValidationError(f"role '{name}': {exc}") from None
        key = (topic, effect)
        before = merged.get(key)
        merged[key] = permission if before is None or before is permission else Permission.READWRITE
    return [Rule(name, topic, permission, effect) for (topic, effect), permission in merged.items()]


def parse_dynsec(data: Any) -> tuple[dict[str, list[Rule]], list[dict[str, Any]], Report]:
    """(roles by name with their rules, clients as mqttdesk users, the report). `deny:R` roles merge into R."""
    if not isinstance(data, dict) or not isinstance(data.get("clients", []), list):
        raise ValidationError("not a dynamic-security file: expected a JSON object with 'clients' and 'roles'")
    report = Report("mqttdesk")
    roles: dict[str, list[Rule]] = {}
    for role in data.get("roles") or []:
        name = str(role.get("rolename") or "")
        if not name:
            raise ValidationError("a role without a rolename")
        target = name.removeprefix(DENY_PREFIX) if name.startswith(DENY_PREFIX) else name
        rules = [Rule(target, r.topic_filter, r.permission, r.effect) for r in _rules_of_role(role, report)]
        if any(acl.get("priority", 0) for acl in role.get("acls") or []):
            report.gap(f"role '{name}'", "ACL priorities dropped: in mqttdesk a deny rule always wins over an allow")
        roles.setdefault(target, []).extend(rules)
    groups = {str(g.get("groupname")): g for g in data.get("groups") or []}
    anonymous_group = data.get("anonymousGroup")
    users: list[dict[str, Any]] = []
    for client in data.get("clients") or []:
        username = str(client.get("username") or "")
        if not username:
            raise ValidationError("a client without a username")
        role_names = [str(r.get("rolename")) for r in client.get("roles") or []]
        for membership in client.get("groups") or []:
            group = groups.get(str(membership.get("groupname")))
            if group is None:
                raise ValidationError(f"client '{username}': unknown group '{membership.get('groupname')}'")
            role_names += [str(r.get("rolename")) for r in group.get("roles") or []]
            report.gap(f"group '{group.get('groupname')}'", "flattened: its roles are given to its clients")
        names = tuple(dict.fromkeys(n.removeprefix(DENY_PREFIX) for n in role_names))
        for role_name in names:
            if role_name not in roles:
                raise ValidationError(f"client '{username}': unknown role '{role_name}'")
        password_hash = None
        if client.get("password") and client.get("salt"):
            password_hash = f"$7${int(client.get('iterations', 101))}${client['salt']}${client['password']}"
            try:
                parse_hash(password_hash)
            except ValidationError as exc:
                raise ValidationError(f"client '{username}': {exc}") from None
        else:
            report.gap(f"user '{username}'", "no password in the file: it is created for a certificate login "
                       "(mqttdesk user auth to change that)")
        if client.get("clientid"):
            report.gap(f"user '{username}'", f"tied to clientId '{client['clientid']}': reserved for it instead")
        users.append({"name": username, "password_hash": password_hash, "roles": names,
                      "suspended": bool(client.get("disabled")),
                      "reserved": (str(client["clientid"]),) if client.get("clientid") else ()})
    if anonymous_group:
        group = groups.get(str(anonymous_group), {})
        listed = ", ".join(str(r.get("rolename")) for r in group.get("roles") or [])
        report.gap("anonymous group", f"roles {listed or '(none)'}: turn anonymous access on with them if wanted "
                   "(mqttdesk anonymous on --role R)")
    return roles, users, report
