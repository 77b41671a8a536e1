"""What every suite of one benchmark run shares: counts, a scratch directory, the mqttdesk template, mosquitto."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path

from bench.settings import Counts
from bench.systems import desk_data
from bench.systems.mosquitto import Mosquitto


@dataclass
class Context:
    counts: Counts
    workdir: Path
    mosquitto: Mosquitto | None
    quick: bool = False
    desk_loop: str = "auto"  # `mqttdesk serve --loop` (the window always runs on qasync)
    _template: Path | None = None
    _serial: itertools.count[int] = field(default_factory=itertools.count)

    def fresh_dir(self, name: str) -> Path:
        """A new, not yet existing path under the scratch directory."""
        return self.workdir / f"{name}-{next(self._serial)}"

    def log_path(self, name: str) -> Path:
        folder = self.workdir / "logs"
        folder.mkdir(exist_ok=True)
        return folder / f"{name}-{next(self._serial)}.log"

    def desk_data(self) -> Path:
        """A fresh copy of the prepared mqttdesk data directory (prepared with the CLI on first use)."""
        if self._template is None:
            self.say("preparing the mqttdesk data directory with the CLI (user, role, bootstrap, limits)")
            self._template = desk_data.make_template(self.workdir / "desk-template")
        return desk_data.fresh_copy(self._template, self.fresh_dir("desk-data"))

    @staticmethod
    def say(message: str) -> None:
        print(f"  · {message}", flush=True)
