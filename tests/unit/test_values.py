"""`value_record`: frozen for the type checker, plain slot stores at run time, hashable by value."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mqttdesk.core.decision import Decision, Kind
from mqttdesk.core.reasons import Reason, ReasonCode
from mqttdesk.core.values import value_record

ROOT = Path(__file__).resolve().parents[2]


@value_record
class _Sample:
    name: str
    tags: tuple[str, ...] = ()
    count: int = dataclasses.field(default=1)


def test_a_value_record_is_a_slotted_dataclass_equal_and_hashable_by_value() -> None:
    one, same = _Sample("a", ("x",)), _Sample("a", ("x",))
    assert one == same
    assert hash(one) == hash(same)
    assert len({one, same}) == 1
    assert not hasattr(one, "__dict__")
    assert dataclasses.replace(one, count=2) == _Sample("a", ("x",), 2)
    assert one.count == 1  # replace made a copy


def test_the_connect_records_are_value_records() -> None:
    decision = Decision(kind=Kind.CONNECT, allowed=True, reason=Reason(ReasonCode.AUTHENTICATED, "ok"), client_id="c")
    assert hash(decision) == hash(dataclasses.replace(decision))
    assert not hasattr(decision, "__dict__")


def test_mypy_refuses_an_assignment_to_a_field(tmp_path: Path) -> None:
    mypy = shutil.which("mypy", path=str(Path(sys.executable).parent))
    if mypy is None:
        pytest.fail(f"mypy is not installed next to {sys.executable}: install the test extras (.[test])")
    snippet = tmp_path / "assigns.py"
    snippet.write_text("from mqttdesk.core.decision import Decision\n\n\n"
                       "def change(decision: Decision) -> None:\n    decision.allowed = False\n")
    result = subprocess.run([mypy, "--strict", "--no-incremental", str(snippet)], cwd=ROOT, capture_output=True,
                            text=True, check=False)
    assert result.returncode == 1, result.stdout + result.stderr
    assert 'Property "allowed" defined in "Decision" is read-only' in result.stdout
