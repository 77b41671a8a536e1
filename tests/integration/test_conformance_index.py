"""Every conformance scenario is run by a test against mqttdesk (the bench runs them all; the suite must too)."""

from __future__ import annotations

from tests.integration import conformance, test_conformance_connection, test_conformance_delivery
from tests.integration import test_conformance_sessions as sessions


def test_every_scenario_has_a_test() -> None:
    tests = {name for module in (test_conformance_connection, test_conformance_delivery, sessions)
             for name in vars(module) if name.startswith("test_")}
    missing = [s.name for s in conformance.SCENARIOS if f"test_{s.name}" not in tests]
    assert not missing, f"scenarios no test runs: {missing}"


def test_scenario_names_are_unique() -> None:
    names = [s.name for s in conformance.SCENARIOS]
    assert len(names) == len(set(names))
