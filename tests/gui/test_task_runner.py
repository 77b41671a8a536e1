from __future__ import annotations

import asyncio

import pytest
from pytestqt.qtbot import QtBot

from mqttdesk.core.errors import NotFoundError
from mqttdesk.gui.task_runner import TaskRunner
from tests.gui.conftest import AsyncRunner


async def fail_with(exc: Exception) -> None:
    await asyncio.sleep(0)
    raise exc


def test_a_users_mistake_is_reported_as_its_message(qtbot: QtBot, aio: AsyncRunner) -> None:
    runner = TaskRunner()
    with qtbot.waitSignal(runner.failed, timeout=2000) as failed:
        runner.start(fail_with(NotFoundError("no user named 'x'")), "suspend x")
    assert failed.args == ["no user named 'x'"]
    assert runner.pending == 0


def test_a_bug_is_reported_in_one_line(qtbot: QtBot, aio: AsyncRunner, caplog: pytest.LogCaptureFixture) -> None:
    runner = TaskRunner()
    with qtbot.waitSignal(runner.failed, timeout=2000) as failed:
        runner.start(fail_with(RuntimeError("boom")), "kick lamp")
    assert failed.args == ["could not kick lamp: boom"]
    assert "could not kick lamp" in caplog.text  # the traceback goes to the log, not to the UI


def test_finish_waits_then_cancels(qtbot: QtBot, aio: AsyncRunner) -> None:
    runner = TaskRunner()
    quick = runner.start(asyncio.sleep(0.01), "wait a little")
    slow = runner.start(asyncio.sleep(60), "wait long")
    aio.run(runner.finish(0.2))
    assert quick.done()
    assert not quick.cancelled()
    assert slow.cancelled()
