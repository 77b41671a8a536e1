"""MQTT 3.1.1 conformance against mqttdesk (issue 4): CONNECT, keep-alive, wills, client ids, the connection itself.

Each test runs one scenario from `conformance.py` against a fresh mqttdesk instance; the scenario's docstring
names the rule. `python -m bench.compare_amqtt` runs the same scenarios against plain amqtt 0.12.1.
"""

from __future__ import annotations

import pytest

from mqttdesk.store.db import Store
from tests.integration import conformance
from tests.integration.conformance import DeskTarget
from tests.integration.harness import Instance


@pytest.fixture
def desk(instance: Instance, admin: Store) -> DeskTarget:
    return DeskTarget(instance, admin)


# -- issue 4 item 1: keep-alive and wills ---------------------------------------------------------------------


def test_keep_alive_timeout_publishes_will(desk: DeskTarget) -> None:
    conformance.keep_alive_timeout_publishes_will(desk)


def test_keep_alive_reset_by_traffic(desk: DeskTarget) -> None:
    conformance.keep_alive_reset_by_traffic(desk)


def test_ping_gets_pingresp(desk: DeskTarget) -> None:
    conformance.ping_gets_pingresp(desk)


def test_will_on_abrupt_close(desk: DeskTarget) -> None:
    conformance.will_on_abrupt_close(desk)


def test_no_will_after_disconnect(desk: DeskTarget) -> None:
    conformance.no_will_after_disconnect(desk)


# -- client identifiers -----------------------------------------------------------------------------------


def test_empty_client_id_with_clean_session(desk: DeskTarget) -> None:
    conformance.empty_client_id_with_clean_session(desk)


def test_empty_client_id_without_clean_session(desk: DeskTarget) -> None:
    conformance.empty_client_id_without_clean_session(desk)


def test_client_id_takeover(desk: DeskTarget) -> None:
    conformance.client_id_takeover(desk)


def test_refused_connect_leaves_live_client_alone(desk: DeskTarget) -> None:
    """Issue 4 item 4."""
    conformance.refused_connect_leaves_live_client_alone(desk)


# -- malformed or unsupported CONNECTs --------------------------------------------------------------------


def test_second_connect_closes(desk: DeskTarget) -> None:
    conformance.second_connect_closes(desk)


def test_protocol_level_3_refused(desk: DeskTarget) -> None:
    conformance.protocol_level_3_refused(desk)


def test_protocol_level_3_mqtt_refused(desk: DeskTarget) -> None:
    conformance.protocol_level_3_mqtt_refused(desk)


def test_unknown_protocol_name(desk: DeskTarget) -> None:
    conformance.unknown_protocol_name(desk)


def test_reserved_flag_closes(desk: DeskTarget) -> None:
    conformance.reserved_flag_closes(desk)
