"""The Bootstrap and Devices models on their own: row-by-row updates (never a reset) and Qt's consistency checks."""

from __future__ import annotations

import time

from pytestqt.modeltest import ModelTester
from pytestqt.qtbot import QtBot

from mqttdesk.broker.registry import LiveSession, SessionRegistry
from mqttdesk.core.decision import Grant
from mqttdesk.core.model import CredentialKind, CredentialRef, Device, Method
from mqttdesk.core.states import CredentialState, StateAction
from mqttdesk.gui.models.bootstraps_model import DEVICES, LAST_USED, REGISTERS, SESSIONS, BootstrapsTableModel
from mqttdesk.gui.models.bootstraps_model import ROLES as BOOTSTRAP_ROLES
from mqttdesk.gui.models.bootstraps_model import STATE as BOOTSTRAP_STATE
from mqttdesk.gui.models.devices_model import BOOTSTRAP, LAST_SEEN, ONLINE, ROLES, DevicesTableModel
from mqttdesk.gui.models.devices_model import STATE as DEVICE_STATE
from mqttdesk.gui.widgets.state_badge import STATE_ROLE, state_of
from mqttdesk.store.db import Store
from tests.gui.conftest import FAST_HASH
from tests.gui.test_models import Recorder

TOOLTIP = 3  # Qt.ItemDataRole.ToolTipRole


def virtual(client_id: str, bootstrap: str) -> LiveSession:
    grant = Grant(Method.BOOTSTRAP, CredentialRef(CredentialKind.BOOTSTRAP, bootstrap), bootstrap, client_id,
                  virtual=True)
    return LiveSession(client_id, bootstrap, "bootstrap", "127.0.0.1", time.time(), True, grant, virtual=True)


def as_device(client_id: str, bootstrap: str, *, registering: bool = False) -> LiveSession:
    grant = Grant(Method.BOOTSTRAP if registering else Method.DEVICE, CredentialRef(CredentialKind.DEVICE, client_id),
                  bootstrap, client_id, registers=bootstrap if registering else None)
    return LiveSession(client_id, bootstrap, grant.method.value, "10.0.0.7", time.time(), False, grant)


def device(client_id: str, bootstrap: str = "plugs") -> Device:
    now = time.time()
    return Device(client_id=client_id, label="", bootstrap=bootstrap, username=bootstrap,
                  password_hash=FAST_HASH("pw"), state=CredentialState.ACTIVE, roles=(), created=now,
                  state_since=now, last_used=now, last_address="10.0.0.7")


def test_bootstraps_model_counts_devices_and_virtual_sessions(
    qtbot: QtBot, store: Store, qtmodeltester: ModelTester
) -> None:
    store.roles.add("tasmota")
    store.bootstraps.add("plugs", FAST_HASH("pw"), ("tasmota",), register_devices=True)
    store.bootstraps.add("fleet", FAST_HASH("pw"))
    registry = SessionRegistry()
    registry.add(virtual("v-early", "fleet"))
    model = BootstrapsTableModel(store, registry)
    registry.subscribe(model.on_session_event)
    store.subscribe(model.on_store_changes)
    qtmodeltester.check(model)
    fleet, plugs = model.row_of("fleet"), model.row_of("plugs")
    assert fleet is not None
    assert plugs is not None
    assert model.index(fleet, SESSIONS).data() == "1"
    assert model.index(fleet, REGISTERS).data() == "no (virtual)"
    assert model.index(plugs, REGISTERS).data() == "yes"
    assert model.index(plugs, DEVICES).data() == "0"

    seen = Recorder(model)
    second = virtual("v-2", "fleet")
    registry.add(second)
    assert model.index(fleet, SESSIONS).data() == "2"
    registry.remove("v-2", second)
    assert model.index(fleet, SESSIONS).data() == "1"
    registering = as_device("DVES_1", "plugs", registering=True)
    registry.add(registering)  # admitted as the device: not a session of the bootstrap credential
    assert model.index(plugs, SESSIONS).data() == "0"
    assert model.index(plugs, LAST_USED).data() != "never"  # the connect is seen before the store says so

    store.devices.register([device("DVES_1"), device("DVES_2")])
    assert model.index(plugs, DEVICES).data() == "2"
    store.devices.delete("DVES_2")
    assert model.index(plugs, DEVICES).data() == "1"
    store.roles.delete("tasmota")  # no BOOTSTRAP notice for this one: the ROLE notice re-reads the list
    assert model.index(plugs, BOOTSTRAP_ROLES).data() == "—"
    store.bootstraps.apply("plugs", StateAction.SUSPEND)
    assert state_of(model.index(plugs, BOOTSTRAP_STATE).data(STATE_ROLE)) is CredentialState.SUSPENDED
    assert "suspended since" in model.index(plugs, BOOTSTRAP_STATE).data(TOOLTIP)
    assert "suspend (was inactive) by admin" in model.index(plugs, BOOTSTRAP_STATE).data(TOOLTIP)
    store.bootstraps.add("new", FAST_HASH("pw"))
    store.bootstraps.delete("fleet")
    assert "modelReset" not in seen.events
    assert seen.events.count("rowsInserted") == 1
    assert seen.events.count("rowsRemoved") == 1
    assert sorted(model.record_at(row).name for row in range(model.rowCount())) == ["new", "plugs"]
    qtmodeltester.check(model)


def test_devices_model_follows_registrations_sessions_and_bootstrap_roles(
    qtbot: QtBot, store: Store, qtmodeltester: ModelTester
) -> None:
    store.roles.add("tasmota")
    store.roles.add("kitchen")
    store.bootstraps.add("plugs", FAST_HASH("pw"), ("tasmota",), register_devices=True)
    registry = SessionRegistry()
    model = DevicesTableModel(store, registry)
    registry.subscribe(model.on_session_event)
    store.subscribe(model.on_store_changes)
    qtmodeltester.check(model)
    seen = Recorder(model)

    first = as_device("DVES_1", "plugs", registering=True)
    registry.add(first)  # before the record is stored: nothing to show yet
    assert model.rowCount() == 0
    store.devices.register([device("DVES_1")])
    assert model.rowCount() == 1
    assert model.index(0, ONLINE).data() == "online"
    assert model.index(0, LAST_SEEN).data() == "now"
    assert model.online_count == 1
    assert model.index(0, ROLES).data() == "tasmota (via bootstrap)"

    registry.remove("DVES_1", first)
    assert model.index(0, ONLINE).data() == "offline"
    assert model.index(0, LAST_SEEN).data() not in ("now", "never")
    assert model.online_count == 0
    registry.add(virtual("not-a-device", "plugs"))  # no row: nothing happens
    assert model.rowCount() == 1

    store.devices.set_roles("DVES_1", ("kitchen",))
    assert model.index(0, ROLES).data() == "kitchen + tasmota (via bootstrap)"
    assert "The device gets both" in model.index(0, ROLES).data(TOOLTIP)
    store.bootstraps.set_roles("plugs", ())
    assert model.index(0, ROLES).data() == "kitchen"
    store.bootstraps.delete("plugs")  # the store unlinks its devices: a namesake must not get them
    assert model.index(0, BOOTSTRAP).data() == "—"
    store.devices.apply("DVES_1", StateAction.SUSPEND)
    assert state_of(model.index(0, DEVICE_STATE).data(STATE_ROLE)) is CredentialState.SUSPENDED
    store.roles.delete("kitchen")
    assert model.index(0, ROLES).data() == "—"
    store.devices.delete("DVES_1")
    assert model.rowCount() == 0
    assert "modelReset" not in seen.events
    qtmodeltester.check(model)


def test_a_batch_of_registrations_is_one_row_insert(qtbot: QtBot, store: Store, qtmodeltester: ModelTester) -> None:
    store.bootstraps.add("plugs", FAST_HASH("pw"), register_devices=True)
    registry = SessionRegistry()
    model = DevicesTableModel(store, registry)
    store.subscribe(model.on_store_changes)
    for n in range(3):
        registry.add(as_device(f"DVES_{n}", "plugs", registering=True))
    seen = Recorder(model)
    store.devices.register([device(f"DVES_{n}") for n in range(3)])  # as the recorder writes a connect storm
    assert seen.events == ["rowsInserted"]
    assert [model.record_at(row).client_id for row in range(3)] == ["DVES_0", "DVES_1", "DVES_2"]
    assert model.online_count == 3
    qtmodeltester.check(model)
