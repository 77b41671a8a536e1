"""MQTT 3.1.1 conformance against mqttdesk (issue 4 items 2 and 3): persistent sessions, offline queue, redelivery."""

from __future__ import annotations

from pathlib import Path

import pytest

from mqttdesk.core.limits import SessionLimits
from mqttdesk.store.db import Store
from tests.integration import conformance
from tests.integration.conformance import QUEUE_BOUND, DeskTarget, running_desk
from tests.integration.harness import Instance


@pytest.fixture
def desk(instance: Instance, admin: Store) -> DeskTarget:
    return DeskTarget(instance, admin)


def test_session_present_flag(desk: DeskTarget) -> None:
    conformance.session_present_flag(desk)


def test_clean_session_discards_session(desk: DeskTarget) -> None:
    conformance.clean_session_discards_session(desk)


def test_offline_messages_delivered_in_order(desk: DeskTarget) -> None:
    """Issue 4 item 2."""
    conformance.offline_messages_delivered_in_order(desk)


def test_unacked_redelivered_with_dup(desk: DeskTarget) -> None:
    """Issue 4 item 3."""
    conformance.unacked_redelivered_with_dup(desk)


def test_pubrel_resent_on_reconnect(desk: DeskTarget) -> None:
    conformance.pubrel_resent_on_reconnect(desk)


def test_offline_queue_bounded(desk: DeskTarget) -> None:
    """The bound itself, set on the running DeskBroker (`SessionLimits.max_queued`)."""
    desk.bound_queue(QUEUE_BOUND)
    conformance.offline_queue_bounded(desk)


def test_offline_queue_bound_configurable_on_service(tmp_path: Path) -> None:
    """Issue 4: "offline queueing ... (bounded, configurable)": `BrokerService(store, limits=SessionLimits(...))`."""
    with running_desk(tmp_path / "data", limits=SessionLimits(max_queued=QUEUE_BOUND)) as instance:
        conformance.offline_queue_bounded(DeskTarget(instance, queue_bound=QUEUE_BOUND))


def test_offline_queue_bound_from_the_stored_setting(tmp_path: Path) -> None:
    """`mqttdesk config set max_queued_messages N` is what a user does; the next broker start applies it."""
    settings = Store.open(tmp_path / "data")
    settings.settings.set_session_limits(SessionLimits(max_queued=QUEUE_BOUND))
    settings.close()
    with running_desk(tmp_path / "data") as instance:
        conformance.offline_queue_bounded(DeskTarget(instance, queue_bound=QUEUE_BOUND))
