"""MQTT 3.1.1 conformance against mqttdesk (issue 4): QoS, retained messages, subscriptions and topic matching."""

from __future__ import annotations

import pytest

from mqttdesk.store.db import Store
from tests.integration import conformance
from tests.integration.conformance import DeskTarget
from tests.integration.harness import Instance


@pytest.fixture
def desk(instance: Instance, admin: Store) -> DeskTarget:
    return DeskTarget(instance, admin)


def test_qos2_exactly_once(desk: DeskTarget) -> None:
    conformance.qos2_exactly_once(desk)


def test_delivered_qos_is_minimum(desk: DeskTarget) -> None:
    conformance.delivered_qos_is_minimum(desk)


def test_overlapping_subscriptions_once(desk: DeskTarget) -> None:
    conformance.overlapping_subscriptions_once(desk)


# -- retained messages ---------------------------------------------------------------------------------------


def test_retained_delivered_on_subscribe(desk: DeskTarget) -> None:
    conformance.retained_delivered_on_subscribe(desk)


def test_retained_replaced(desk: DeskTarget) -> None:
    conformance.retained_replaced(desk)


def test_retained_cleared(desk: DeskTarget) -> None:
    conformance.retained_cleared(desk)


def test_live_delivery_retain_flag_clear(desk: DeskTarget) -> None:
    conformance.live_delivery_retain_flag_clear(desk)


def test_nothing_unsolicited_on_connect(desk: DeskTarget) -> None:
    conformance.nothing_unsolicited_on_connect(desk)


# -- subscriptions and topic matching ----------------------------------------------------------------------


def test_dollar_topics_not_matched_by_wildcards(desk: DeskTarget) -> None:
    conformance.dollar_topics_not_matched_by_wildcards(desk)


def test_suback_return_codes(desk: DeskTarget) -> None:
    conformance.suback_return_codes(desk)


def test_unsubscribe_stops_delivery(desk: DeskTarget) -> None:
    conformance.unsubscribe_stops_delivery(desk)
