"""ACL rules: patterns, deny by default, deny wins, and how SUBSCRIBE filters are judged."""

from __future__ import annotations

import pytest

from mqttdesk.core.acl import (
    Access,
    Effect,
    Permission,
    Rule,
    Subject,
    check_subscription,
    check_topic,
    expand,
    unsafe_value,
    validate_rule_filter,
    value_problem,
)
from mqttdesk.core.errors import ValidationError

ALICE = Subject(username="alice", client_id="lamp-1", tenant="acme")


def allow(topic_filter: str, permission: Permission = Permission.READWRITE, role: str = "r") -> Rule:
    return Rule(role, topic_filter, permission, Effect.ALLOW)


def deny(topic_filter: str, permission: Permission = Permission.READWRITE, role: str = "r") -> Rule:
    return Rule(role, topic_filter, permission, Effect.DENY)


# -- permissions and rule filters ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("permission", "access", "expected"),
    [
        (Permission.READ, Access.READ, True),
        (Permission.READ, Access.WRITE, False),
        (Permission.WRITE, Access.READ, False),
        (Permission.WRITE, Access.WRITE, True),
        (Permission.READWRITE, Access.READ, True),
        (Permission.READWRITE, Access.WRITE, True),
    ],
)
def test_permission_grants(permission: Permission, access: Access, expected: bool) -> None:
    assert permission.grants(access) is expected


@pytest.mark.parametrize("topic_filter", ["a/b", "users/%u/#", "%c", "+/%c/+", "t/%t/%u/%c", "#"])
def test_valid_rule_filters(topic_filter: str) -> None:
    validate_rule_filter(topic_filter)


@pytest.mark.parametrize(
    ("topic_filter", "message"),
    [
        ("users/%u#", "must be a whole level"),
        ("users/x%u", "a pattern must be a whole level"),
        ("users/%x", "a pattern must be a whole level"),
        ("users/%", "a pattern must be a whole level"),
        ("users/%u%c", "a pattern must be a whole level"),
        ("a/#/b", "'#' must be a whole level"),
        ("", "must not be empty"),
    ],
)
def test_invalid_rule_filters(topic_filter: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        validate_rule_filter(topic_filter)


# -- expand ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("topic_filter", "subject", "expected"),
    [
        ("plain/topic", ALICE, "plain/topic"),
        ("users/%u/#", ALICE, "users/alice/#"),
        ("devices/%c/state", ALICE, "devices/lamp-1/state"),
        ("tenants/%t/%u/%c", ALICE, "tenants/acme/alice/lamp-1"),
        ("%u", ALICE, "alice"),
        ("a/%u/%u", ALICE, "a/alice/alice"),
        ("%u/x", Subject("$SYS", "c"), None),  # a value may not turn the filter into a $-topic filter
        # refused: missing values
        ("users/%u", Subject(None, "c"), None),
        ("users/%u", Subject("", "c"), None),
        ("devices/%c", Subject("u", ""), None),
        ("tenants/%t", Subject("u", "c"), None),
        ("tenants/%t", Subject("u", "c", ""), None),
        # refused: a value that would add a level or a wildcard
        ("users/%u", Subject("a/b", "c"), None),
        ("users/%u", Subject("+", "c"), None),
        ("users/%u", Subject("a#", "c"), None),
        ("devices/%c/x", Subject("u", "lamp/+"), None),
        ("devices/%c", Subject("u", "#"), None),
        ("tenants/%t", Subject("u", "c", "a/b"), None),
        ("tenants/%t", Subject("u", "c", "+"), None),
        ("tenants/%t", Subject("u", "c", "#"), None),
        # one bad value spoils the whole filter, even when other patterns are fine
        ("%u/%c", Subject("alice", "x/y"), None),
    ],
)
def test_expand(topic_filter: str, subject: Subject, expected: str | None) -> None:
    assert expand(topic_filter, subject) == expected


# -- check_topic ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rules", "topic", "access", "allowed", "deciding_rule"),
    [
        # deny by default
        ((), "a/b", Access.READ, False, None),
        ((allow("x/#"),), "a/b", Access.WRITE, False, None),
        # plain allow, per access
        ((allow("a/#", Permission.READ),), "a/b", Access.READ, True, 0),
        ((allow("a/#", Permission.READ),), "a/b", Access.WRITE, False, None),
        ((allow("a/#", Permission.WRITE),), "a/b", Access.WRITE, True, 0),
        ((allow("a/#", Permission.WRITE),), "a/b", Access.READ, False, None),
        ((allow("a/#"),), "a/b", Access.READ, True, 0),
        ((allow("a/#"),), "a", Access.WRITE, True, 0),
        # deny wins over allow, whatever the order of the rules
        ((allow("#"), deny("secret/#")), "secret/x", Access.READ, False, 1),
        ((deny("secret/#"), allow("#")), "secret/x", Access.READ, False, 0),
        ((allow("secret/x"), deny("secret/+")), "secret/x", Access.WRITE, False, 1),
        ((allow("#"), deny("secret/#")), "public/x", Access.READ, True, 0),
        # a deny applies only to its access
        ((allow("#"), deny("secret/#", Permission.WRITE)), "secret/x", Access.READ, True, 0),
        ((allow("#"), deny("secret/#", Permission.WRITE)), "secret/x", Access.WRITE, False, 1),
        ((allow("#"), deny("secret/#", Permission.READ)), "secret/x", Access.WRITE, True, 0),
        # the first applicable allow is reported
        ((allow("a/#"), allow("a/b")), "a/b", Access.READ, True, 0),
        ((allow("x/#"), allow("a/b")), "a/b", Access.READ, True, 1),
        # $-topics need a rule that names them
        ((allow("#"),), "$SYS/broker/uptime", Access.READ, False, None),
        ((allow("#"), allow("$SYS/#", Permission.READ)), "$SYS/broker/uptime", Access.READ, True, 1),
        # patterns
        ((allow("users/%u/#"),), "users/alice/inbox", Access.WRITE, True, 0),
        ((allow("users/%u/#"),), "users/bob/inbox", Access.WRITE, False, None),
        ((allow("devices/%c/#"),), "devices/lamp-1/state", Access.WRITE, True, 0),
        ((allow("tenants/%t/#"),), "tenants/acme/x", Access.READ, True, 0),
        ((allow("#"), deny("users/%u/private")), "users/alice/private", Access.READ, False, 1),
        ((allow("#"), deny("users/%u/private")), "users/bob/private", Access.READ, True, 0),
    ],
)
def test_check_topic(
    rules: tuple[Rule, ...], topic: str, access: Access, allowed: bool, deciding_rule: int | None
) -> None:
    verdict = check_topic(rules, topic, access, ALICE)
    assert verdict.allowed is allowed
    assert verdict.rule == (None if deciding_rule is None else rules[deciding_rule])


def test_pattern_rule_does_not_apply_when_the_value_is_missing_or_unsafe() -> None:
    rules = (allow("users/%u/#"), allow("devices/%c/#"))
    anonymous = Subject(None, "lamp-1")
    assert not check_topic(rules, "users/None/x", Access.WRITE, anonymous).allowed
    assert check_topic(rules, "devices/lamp-1/x", Access.WRITE, anonymous).allowed
    sneaky = Subject("+", "a/b")  # would widen "users/%u/#" to "users/+/#" and "devices/%c/#" to two levels
    assert not check_topic(rules, "users/bob/x", Access.WRITE, sneaky).allowed
    assert not check_topic(rules, "devices/a/b/x", Access.WRITE, sneaky).allowed


def test_check_topic_accepts_a_one_shot_iterable() -> None:
    rules = iter([allow("#"), deny("secret/#")])
    assert not check_topic(rules, "secret/x", Access.READ, ALICE).allowed


# -- unsafe values: deny rules fail closed -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("lamp-1", None),
        ("a$", None),
        ("DVES_1A2B3C", None),
        ("a/b", "contains '/'"),
        ("+", "contains '+'"),
        ("x#", "contains '#'"),
        ("a+b/c", "contains '+'"),  # the first offending character is named
        ("$x", "starts with '$'"),
        ("$SYS", "starts with '$'"),
    ],
)
def test_value_problem(value: str, problem: str | None) -> None:
    assert value_problem(value) == problem


def test_unsafe_value_names_the_pattern_and_the_value() -> None:
    unsafe = unsafe_value("sensors/%u/%c/#", Subject("alice", "a/b"))
    assert unsafe is not None
    assert (unsafe.pattern, unsafe.value, unsafe.problem) == ("%c", "a/b", "contains '/'")
    assert unsafe.describe() == "clientId 'a/b' contains '/', so rules with %c cannot be applied safely"
    tenant = unsafe_value("t/%t/#", Subject("u@$x", "c", "$x"))
    assert tenant is not None
    assert tenant.describe() == "tenant '$x' starts with '$', so rules with %t cannot be applied safely"
    assert unsafe_value("sensors/%c/#", ALICE) is None
    assert unsafe_value("sensors/a%2Fb/#", Subject("u", "a/b")) is None  # no pattern level, nothing to expand
    assert unsafe_value("users/%u/#", Subject(None, "a/b")) is None  # missing is not unsafe, %c is not used


LOCKED = (allow("sensors/#", Permission.WRITE), deny("sensors/%c/locked/#", Permission.WRITE))


@pytest.mark.parametrize("client_id", ["a/b", "$x", "+", "#", "a/+/#"])
@pytest.mark.parametrize("topic", ["sensors/a/b/locked/x", "sensors/$x/locked/x", "sensors/other/temp"])
def test_a_deny_rule_with_an_unsafe_client_id_applies_to_every_topic(client_id: str, topic: str) -> None:
    """The hole: clientId 'a/b' made 'sensors/%c/locked/#' unexpandable and the deny was skipped (fail open)."""
    verdict = check_topic(LOCKED, topic, Access.WRITE, Subject("u", client_id))
    assert not verdict.allowed
    assert verdict.rule == LOCKED[1]
    assert verdict.unsafe is not None
    assert verdict.unsafe.value == client_id


def test_a_safe_client_id_meets_the_deny_rule_as_written() -> None:
    plain = Subject("u", "a")
    assert not check_topic(LOCKED, "sensors/a/locked/x", Access.WRITE, plain).allowed
    allowed = check_topic(LOCKED, "sensors/a/b/locked/x", Access.WRITE, plain)
    assert allowed.allowed
    assert allowed.unsafe is None


@pytest.mark.parametrize(
    ("rule", "subject"),
    [
        (deny("users/%u/private"), Subject("a/b", "c")),
        (deny("users/%u/private"), Subject("$admin", "c")),
        (deny("tenants/%t/private/#"), Subject("u@x/y", "c", "x/y")),
        (deny("%c/private"), Subject("u", "+")),
    ],
)
def test_every_pattern_fails_closed_in_a_deny_rule(rule: Rule, subject: Subject) -> None:
    rules = (allow("#"), rule)  # the deny comes last: deny wins whatever the order
    assert check_topic(rules, "anything/at/all", Access.READ, subject).rule == rule
    assert not check_topic(rules, "anything/at/all", Access.WRITE, subject).allowed


def test_an_unsafe_deny_rule_keeps_to_its_permission() -> None:
    rules = (allow("#"), deny("sensors/%c/locked/#", Permission.WRITE))
    odd = Subject("u", "a/b")
    assert not check_topic(rules, "news", Access.WRITE, odd).allowed
    assert check_topic(rules, "news", Access.READ, odd).allowed  # a write deny says nothing about reading
    assert check_subscription(rules, "#", odd).allowed


def test_an_unsafe_deny_rule_refuses_every_subscription() -> None:
    rules = (allow("#", Permission.READ), deny("sensors/%c/locked/#", Permission.READ))
    for topic_filter in ("sensors/a/b/locked/#", "#", "news/today", "$SYS/#"):
        verdict = check_subscription(rules, topic_filter, Subject("u", "a/b"))
        assert not verdict.allowed, topic_filter
        assert verdict.rule == rules[1]
        assert verdict.unsafe is not None


def test_a_missing_value_leaves_a_deny_rule_out() -> None:
    """No tenant is not an odd tenant: the rule is about someone else, so a tenantless user is not locked out."""
    rules = (allow("#"), deny("tenants/%t/#"), deny("users/%u/#"))
    anonymous = Subject(None, "lamp-1")
    assert check_topic(rules, "tenants/acme/x", Access.WRITE, anonymous).allowed
    assert check_topic(rules, "users/alice/x", Access.WRITE, anonymous).allowed


def test_allow_rules_with_an_unsafe_value_are_reported_as_not_applied() -> None:
    rules = (allow("devices/%c/#"), allow("users/%u/#"), allow("public/#", Permission.READ))
    odd = Subject("a/b", "$x")
    verdict = check_topic(rules, "devices/$x/state", Access.WRITE, odd)
    assert not verdict.allowed
    assert verdict.rule is None
    assert [(rule.topic_filter, unsafe.pattern) for rule, unsafe in verdict.skipped] == [
        ("devices/%c/#", "%c"), ("users/%u/#", "%u")]
    assert check_topic(rules, "public/news", Access.READ, odd).allowed  # rules without patterns still apply
    subscription = check_subscription(rules, "devices/#", odd)
    assert not subscription.allowed
    assert len(subscription.skipped) == 2


# -- check_subscription ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rules", "topic_filter", "allowed", "deciding_rule"),
    [
        # deny by default: a filter outside every allow is refused
        ((), "#", False, None),
        ((allow("public/#", Permission.READ),), "private/#", False, None),
        ((allow("public/#", Permission.READ),), "+/x/y", True, 0),  # reaches public/x/y
        # write-only does not let you subscribe
        ((allow("a/#", Permission.WRITE),), "a/b", False, None),
        # broad filter granted while a part is denied: delivery is filtered per message
        ((allow("#", Permission.READ), deny("secret/#")), "#", True, 0),
        ((allow("#", Permission.READ), deny("secret/#")), "+/x", True, 0),
        # a filter entirely inside a deny is refused, naming the deny rule
        ((allow("#", Permission.READ), deny("secret/#")), "secret/#", False, 1),
        ((allow("#", Permission.READ), deny("secret/#")), "secret/+/x", False, 1),
        ((allow("#", Permission.READ), deny("secret/#")), "secret", False, 1),
        ((deny("secret/#"), allow("#", Permission.READ)), "secret/a", False, 0),
        # a write-only deny does not restrict subscribing
        ((allow("#"), deny("secret/#", Permission.WRITE)), "secret/#", True, 0),
        # the filter is narrower than the allow, or merely overlaps it
        ((allow("a/b", Permission.READ),), "a/+", True, 0),
        ((allow("a/+/c", Permission.READ),), "a/#", True, 0),
        ((allow("a/b", Permission.READ),), "a/b/c", False, None),
        # $SYS: '#' does not reach it, an explicit rule does
        ((allow("#", Permission.READ),), "$SYS/#", False, None),
        ((allow("$SYS/#", Permission.READ),), "$SYS/broker/+", True, 0),
        ((allow("$SYS/#", Permission.READ),), "#", False, None),
        # patterns
        ((allow("users/%u/#", Permission.READ),), "users/alice/#", True, 0),
        ((allow("users/%u/#", Permission.READ),), "users/bob/#", False, None),
        ((allow("#", Permission.READ), deny("users/%u/#")), "users/alice/x", False, 1),
        ((allow("#", Permission.READ), deny("users/%u/#")), "users/bob/x", True, 0),
    ],
)
def test_check_subscription(
    rules: tuple[Rule, ...], topic_filter: str, allowed: bool, deciding_rule: int | None
) -> None:
    verdict = check_subscription(rules, topic_filter, ALICE)
    assert verdict.allowed is allowed
    assert verdict.rule == (None if deciding_rule is None else rules[deciding_rule])


def test_broad_subscription_is_granted_but_denied_messages_are_not_delivered() -> None:
    """The README example: `#` while `secret/#` is denied."""
    rules = (allow("#", Permission.READ), deny("secret/#", Permission.READ))
    assert check_subscription(rules, "#", ALICE).allowed
    assert check_topic(rules, "public/news", Access.READ, ALICE).allowed
    assert not check_topic(rules, "secret/plans", Access.READ, ALICE).allowed


def test_rule_describe() -> None:
    assert allow("a/#", Permission.READ, role="viewers").describe() == "role 'viewers' allows read on 'a/#'"
    assert deny("s/#", Permission.READWRITE, role="x").describe() == "role 'x' denies readwrite on 's/#'"
