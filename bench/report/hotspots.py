"""Where a profiled broker spends its CPU: py-spy's collapsed stacks turned into hot spots and layers.

Input: `py-spy record --format raw --function` output, one line per distinct stack ("f (file:line);g (...) N"),
outermost frame first; sampled without `--idle`, so a sample is CPU the process used. Only the main thread is
analysed — the one that runs the event loop (and Qt), whose time is what delays packets and stalls the window;
samples of other threads (password hashing in an executor, a stdin reader, idle workers py-spy still reports) are
only counted. Output:

- `top`: functions by cumulative share (samples whose stack contains the function), with self share and file:line;
  frames found on nearly every stack (entry point, `run_forever`, `_run_once`) are left out;
- `self_by_layer`: where the CPU was burned (the innermost frame's layer: amqtt's codec, our broker, asyncio...);
- `owner_by_layer`: who caused it (the innermost frame that is amqtt's, ours or Qt's; a sample with none is the
  event loop's own overhead). Under qasync, Qt's C++ work (painting, layout, model signals) has no Python frame
  of its own: it shows as time in qasync's frames.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

EVERYWHERE = 0.95  # frames on at least this share of stacks say nothing about where time goes
EVENT_LOOP = "asyncio/selectors/socket"
# innermost frames of a thread that only waits (an idle executor worker): py-spy may still count it as running
IDLE_WAITS = frozenset({("_worker", "concurrent/futures/thread.py"), ("Condition.wait", "threading.py"),
                        ("Event.wait", "threading.py"), ("Queue.get", "queue.py")})
# where the process starts: on every stack of the loop, so never the owner of a sample
ENTRY_FILES = ("mqttdesk/__main__.py", "mqttdesk/cli.py", "mqttdesk/app.py", "mqttdesk/commands/", "bench/",
               "<frozen runpy>")


@dataclass(frozen=True, slots=True)
class Frame:
    function: str
    file: str
    line: int

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


def parse_frame(text: str) -> Frame:
    function, _, rest = text.rpartition(" (")
    if not function:
        return Frame(text, "?", 0)
    file, _, line = rest.rstrip(")").rpartition(":")
    return Frame(function, file, int(line) if line.isdigit() else 0)


def parse(raw: str) -> list[tuple[tuple[Frame, ...], int]]:
    stacks: list[tuple[tuple[Frame, ...], int]] = []
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            stacks.append((tuple(parse_frame(f) for f in stack.split(";")), int(count)))
    return stacks


def layer(file: str) -> str:
    if file.startswith("transitions/"):
        return "amqtt: session state machine (transitions)"  # amqtt builds one per Session
    if file.startswith(("qasync/", "PySide6/", "shiboken6/")):
        return "Qt/qasync (Qt's C++ work shows here)"
    if file.startswith("amqtt/"):
        if file.startswith(("amqtt/mqtt/", "amqtt/codecs_amqtt")):
            return "amqtt: packet codec (amqtt.mqtt)"
        if file.startswith("amqtt/adapters"):
            return "amqtt: stream adapters"
        if file.startswith("amqtt/broker"):
            return "amqtt: Broker lifecycle"
        return "amqtt: other"
    if file.startswith("mqttdesk/"):
        parts = file.removesuffix(".py").split("/")
        return "ours: mqttdesk." + (parts[1] if len(parts) > 2 else parts[-1])
    if file.startswith("asyncio/") or file in ("selectors.py", "socket.py", "ssl.py"):
        return EVENT_LOOP
    if file.startswith("sqlite3/"):
        return "sqlite3"
    if file.startswith("logging/"):
        return "logging"
    return "other (stdlib)"


def _main_thread(stack: tuple[Frame, ...]) -> bool:
    """The thread that runs the event loop (and, in the GUI process, Qt): started by `python -m`."""
    return stack[0].function == "_run_module_as_main"


def _owner(stack: tuple[Frame, ...]) -> str:
    for frame in reversed(stack):
        if frame.file.startswith(ENTRY_FILES):
            continue
        name = layer(frame.file)
        if name.startswith(("amqtt", "ours", "Qt")):
            return name
    return EVENT_LOOP if any(layer(f.file) == EVENT_LOOP for f in stack) else "other (stdlib)"


def _shares(counter: Counter[str], total: int) -> dict[str, float]:
    return {name: round(100 * count / total, 1) for name, count in counter.most_common()}


def summarise(raw: str, *, top: int = 25, seconds: float | None = None, rate: int | None = None) -> dict[str, Any]:
    stacks = parse(raw)
    idle = sum(count for stack, count in stacks if (stack[-1].function, stack[-1].file) in IDLE_WAITS)
    stacks = [(stack, count) for stack, count in stacks if (stack[-1].function, stack[-1].file) not in IDLE_WAITS]
    other_threads = sum(count for stack, count in stacks if not _main_thread(stack))
    stacks = [(stack, count) for stack, count in stacks if _main_thread(stack)]
    total = sum(count for _, count in stacks)
    if not total:
        return {"samples": 0, "idle_samples_dropped": idle, "other_thread_samples": other_threads}
    cumulative: Counter[Frame] = Counter()
    own: Counter[Frame] = Counter()
    self_layers: Counter[str] = Counter()
    owners: Counter[str] = Counter()
    for stack, count in stacks:
        for frame in set(stack):
            cumulative[frame] += count
        own[stack[-1]] += count
        self_layers[layer(stack[-1].file)] += count
        owners[_owner(stack)] += count
    rows = [
        {"function": f.function, "where": f.where, "layer": layer(f.file),
         "cumulative_pct": round(100 * n / total, 1), "self_pct": round(100 * own[f] / total, 1)}
        for f, n in cumulative.most_common() if n / total < EVERYWHERE
    ][:top]
    self_rows = [
        {"function": f.function, "where": f.where, "layer": layer(f.file), "self_pct": round(100 * n / total, 1)}
        for f, n in own.most_common(15)
    ]
    summary: dict[str, Any] = {
        "samples": total, "idle_samples_dropped": idle, "other_thread_samples": other_threads,
        "self_by_layer": _shares(self_layers, total),
        "owner_by_layer": _shares(owners, total), "top": rows, "top_self": self_rows,
    }
    if seconds and rate:
        summary["cpu_share"] = round(total / (seconds * rate), 3)  # busy samples / possible samples
    return summary
