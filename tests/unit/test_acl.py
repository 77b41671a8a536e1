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
    validate_rule_filter,
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
    """The DESIGN.md example: `#` while `secret/#` is denied."""
    rules = (allow("#", Permission.READ), deny("secret/#", Permission.READ))
    assert check_subscription(rules, "#", ALICE).allowed
    assert check_topic(rules, "public/news", Access.READ, ALICE).allowed
    assert not check_topic(rules, "secret/plans", Access.READ, ALICE).allowed


def test_rule_describe() -> None:
    assert allow("a/#", Permission.READ, role="viewers").describe() == "role 'viewers' allows read on 'a/#'"
    assert deny("s/#", Permission.READWRITE, role="x").describe() == "role 'x' denies readwrite on 's/#'"
