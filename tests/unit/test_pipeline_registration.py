"""Devices admitted by the pipeline stay in its snapshot while and after the recorder writes them."""

from __future__ import annotations

from pathlib import Path

from mqttdesk.auth.pipeline import AuthPipeline
from mqttdesk.auth.recorder import DecisionRecorder
from mqttdesk.core.decision import ConnectRequest
from mqttdesk.core.passwords import hash_password
from mqttdesk.store.db import Store


def test_registered_device_survives_rebuilds_and_its_own_write_does_not_reload(tmp_path: Path) -> None:
    store = Store.open(tmp_path)
    store.bootstraps.add("plugs", hash_password("pw", iterations=1000), register_devices=True)
    pipeline = AuthPipeline(store)
    recorder = DecisionRecorder(store)
    try:
        decision = pipeline.explain_connect(ConnectRequest("DVES_1", "plugs", "pw"))
        assert decision.grant is not None
        device = pipeline.admit_device(decision.grant, "10.0.0.7")
        recorder.record_registration(device)

        store.roles.add("unrelated")  # a rebuild before the write lands: the unsaved device is kept
        assert "DVES_1" in pipeline.directory.devices

        before = pipeline.directory
        recorder.flush()  # writes the device; the notice is about our own admission only
        assert pipeline.directory is before  # no reload from SQLite
        assert store.devices.get("DVES_1").last_address == "10.0.0.7"

        again = pipeline.explain_connect(ConnectRequest("DVES_1", "plugs", "pw"))
        assert again.method is not None
        assert again.method.value == "device"

        store.devices.set_label("DVES_1", "kitchen")  # anybody else's change reloads as before
        assert pipeline.directory is not before
        assert pipeline.directory.devices["DVES_1"].label == "kitchen"
    finally:
        pipeline.close()
        store.close()
