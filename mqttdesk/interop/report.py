"""What an export could not carry over, or an import could not take in: listed, never silently dropped."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Gap:
    """One thing the target cannot express, and what happens to it there."""

    subject: str  # e.g. "bootstrap credential 'plugs'", "role 'lamps'"
    text: str  # e.g. "left out: Mosquitto has no shared fleet credentials"

    def line(self) -> str:
        return f"{self.subject}: {self.text}"


@dataclass(slots=True)
class Report:
    target: str  # "Mosquitto", "Mosquitto dynamic security", "EMQX", "mqttdesk"
    gaps: list[Gap] = field(default_factory=list)
    written: list[str] = field(default_factory=list)  # what was carried over, one short line each

    def gap(self, subject: str, text: str) -> None:
        found = Gap(subject, text)
        if found not in self.gaps:
            self.gaps.append(found)

    def note(self, line: str) -> None:
        self.written.append(line)

    def lines(self) -> list[str]:
        """The report as a person reads it: what was written, then every gap (or that there is none)."""
        out = list(self.written)
        if self.gaps:
            out.append(f"not expressible in {self.target} ({len(self.gaps)}):")
            out.extend(f"  - {gap.line()}" for gap in self.gaps)
        else:
            out.append(f"nothing left out: {self.target} can express all of it")
        return out

    def to_json(self) -> dict[str, object]:
        return {"target": self.target, "written": list(self.written),
                "not_expressible": [{"subject": g.subject, "text": g.text} for g in self.gaps]}
