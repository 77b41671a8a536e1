"""Runs coroutines started from Qt slots on the asyncio loop (qasync), keeps them referenced, reports failures.

A slot cannot await, so it hands its coroutine to `TaskRunner.start`. Without a kept reference a task may be
garbage-collected mid-flight; without a done-callback its exception would only surface as "Task exception was
never retrieved" in a log. Failures become `failed(message)`: the user's own mistakes (`MqttdeskError`) with
their message as it is, anything else as one line naming what failed — never a traceback in the UI.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any, TypeVar

from PySide6.QtCore import QObject, Signal

from mqttdesk.core.errors import MqttdeskError

log = logging.getLogger(__name__)

T = TypeVar("T")


class TaskRunner(QObject):
    failed = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._tasks: set[asyncio.Task[Any]] = set()

    @property
    def pending(self) -> int:
        return len(self._tasks)

    def start(self, coro: Coroutine[Any, Any, T], what: str) -> asyncio.Task[T]:
        """Schedule `coro`; `what` names the action for an error message ("start the broker")."""
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(lambda done: self._finished(done, what))
        return task

    def _finished(self, task: asyncio.Task[Any], what: str) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is None:
            return
        if isinstance(exc, MqttdeskError):
            message = str(exc)
        else:
            log.error("could not %s", what, exc_info=exc)
            message = f"could not {what}: {exc or type(exc).__name__}"
        self.failed.emit(message)

    async def finish(self, grace: float) -> None:
        """At shutdown: give running actions `grace` seconds to end, then cancel the rest and wait for them.

        Waiting first matters: cancelling a broker start half-way could leave its port bound.
        """
        tasks = [task for task in self._tasks if not task.done()]
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=grace)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
