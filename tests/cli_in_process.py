"""The `mqttdesk` command line run in this process: the real `main()`, with stdin, stdout and stderr of its own.

A subprocess costs about 0.7 s (the interpreter and the imports); this costs the command alone, so a table of
cases stays fast. What a subprocess would show is kept: the exit status (argparse's SystemExit included), the two
streams, and stdin as bytes, so that input that is not UTF-8 reaches the command as it would from a pipe. An
exception the command does not handle is not caught here: the test fails with its traceback, as a user would see it.
"""

from __future__ import annotations

import contextlib
import io
import sys
from dataclasses import dataclass
from pathlib import Path

from mqttdesk.cli import main


@dataclass(frozen=True, slots=True)
class CliResult:
    returncode: int
    stdout: str
    stderr: str


def run_cli_in_process(data_dir: Path | None, *args: str, stdin: bytes | str = b"") -> CliResult:
    """`mqttdesk --data-dir DATA_DIR ARGS...` (without --data-dir when `data_dir` is None)."""
    raw = stdin.encode("utf-8") if isinstance(stdin, str) else stdin
    stdout, stderr = io.StringIO(), io.StringIO()
    fake_stdin = io.TextIOWrapper(io.BytesIO(raw), encoding="utf-8")
    argv = ([] if data_dir is None else ["--data-dir", str(data_dir)]) + list(args)
    saved_stdin = sys.stdin
    sys.stdin = fake_stdin
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            try:
                code = main(argv)
            except SystemExit as exc:  # argparse: usage errors (2) and --help (0)
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        sys.stdin = saved_stdin
    return CliResult(int(code), stdout.getvalue(), stderr.getvalue())
