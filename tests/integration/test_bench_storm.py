"""The bench's storm load generator (raw sockets on the loop's readiness callbacks) against the real broker: every
device's CONNACK code is counted, the accepted ones stay connected until `close_all`, and a broker that never
answers costs the storm its deadline, not a hang or a leaked socket."""

from __future__ import annotations

import asyncio
import os
import resource
import socket

import pytest

from bench.load.client import Endpoint
from bench.load.connects import Storm, close_all, storm
from bench.load.packets import MQTT_3_1_1, MQTT_5
from mqttdesk.core.acl import Permission
from mqttdesk.store.db import Store
from tests.integration.conftest import fast_hash
from tests.integration.harness import Instance

DEVICES = 30  # under the broker's 32 connections per address that have not sent their CONNECT yet


@pytest.fixture
def fleet(admin, unguarded, instance) -> Instance:  # type: ignore[no-untyped-def]
    admin.roles.add("tasmota")
    admin.roles.allow("tasmota", "tele/%c/#", Permission.WRITE)
    admin.bootstraps.add("plugs", fast_hash("flash-me"), ("tasmota",), register_devices=True)
    instance.sync()
    return instance


@pytest.mark.parametrize("version", [MQTT_3_1_1, MQTT_5])
def test_a_storm_counts_every_device_and_keeps_the_accepted_ones_connected(fleet: Instance, admin: Store,
                                                                           version: int) -> None:
    ids = [f"DVES_{version}{i:05X}" for i in range(DEVICES)]
    result = asyncio.run(storm(Endpoint("127.0.0.1", fleet.port, "plugs", "flash-me", version), ids, 30))
    assert (result.run.attempted, result.run.accepted, result.run.refused) == (DEVICES, DEVICES, {})
    assert sorted(result.accepted_ids) == ids
    assert len(result.run.latencies) == DEVICES
    assert fleet.until(lambda: len(fleet.service.registry) == DEVICES, timeout=10)
    fleet.flush_log()
    assert {d.client_id for d in admin.devices.list()} >= set(ids)  # registered on first connect

    asyncio.run(close_all(result.links))
    assert fleet.until(lambda: not len(fleet.service.registry), timeout=10)
    assert all(link.sock.fileno() == -1 for link in result.links)


@pytest.mark.parametrize(("version", "code"), [(MQTT_3_1_1, 4), (MQTT_5, 0x86)])
def test_a_refused_device_is_counted_by_its_code_and_closed(fleet: Instance, version: int, code: int) -> None:
    ids = [f"wrong-{i}" for i in range(5)]
    result = asyncio.run(storm(Endpoint("127.0.0.1", fleet.port, "plugs", "not-it", version), ids, 30))
    assert (result.run.accepted, result.run.refused, result.links) == (0, {code: 5}, [])


def test_a_broker_that_never_answers_costs_the_storm_its_deadline() -> None:
    with socket.create_server(("127.0.0.1", 0), backlog=16) as silent:  # listens, never accepts nor answers
        port = silent.getsockname()[1]
        result = asyncio.run(storm(Endpoint("127.0.0.1", port, "plugs", "pw"), ["a", "b", "c"], 0.5))
    assert (result.run.accepted, result.run.refused, result.links) == (0, {-1: 3}, [])
    assert 0.5 <= result.run.seconds < 5


def test_nobody_listening_is_a_refusal_without_connack() -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]  # free once closed
    result = asyncio.run(storm(Endpoint("127.0.0.1", port, "plugs", "pw"), ["a", "b"], 10))
    assert (result.run.accepted, result.run.refused) == (0, {-1: 2})
    assert result.run.seconds < 5


def test_a_first_frame_that_is_no_connack_is_a_refusal_at_once() -> None:
    async def run() -> tuple[Storm, float]:
        async def answer_with_disconnect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(b"\xe0\x01\x87")  # an MQTT 5 DISCONNECT (not authorized), then silence: no EOF either
            await reader.read()  # until the device closes
            writer.close()
            await writer.wait_closed()

        server = await asyncio.start_server(answer_with_disconnect, "127.0.0.1", 0)
        async with server:
            port = server.sockets[0].getsockname()[1]
            return await storm(Endpoint("127.0.0.1", port, "plugs", "pw", MQTT_5), ["a", "b"], 30), 30.0

    result, deadline = asyncio.run(run())
    assert (result.run.accepted, result.run.refused) == (0, {-1: 2})
    assert result.run.seconds < deadline / 2  # answered by the frame, not by the deadline


def test_out_of_descriptors_counts_the_devices_without_a_socket() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    in_use = len(os.listdir("/proc/self/fd"))
    with socket.create_server(("127.0.0.1", 0), backlog=64) as silent:
        port = silent.getsockname()[1]
        resource.setrlimit(resource.RLIMIT_NOFILE, (in_use + 12, hard))
        try:
            result = asyncio.run(storm(Endpoint("127.0.0.1", port, "plugs", "pw"), [f"d{i}" for i in range(40)],
                                       0.5))
        finally:
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert result.run.attempted == 40
    assert (result.run.accepted, sum(result.run.refused.values())) == (0, 40)
    assert len(os.listdir("/proc/self/fd")) <= in_use + 1  # every storm socket closed (+1: the listener)
