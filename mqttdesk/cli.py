"""The `mqttdesk` command: the GUI by default, a headless broker with `serve`, and admin commands.

Everything the GUI can change, these commands can change too, against the same store; a running instance picks
the change up within a second. Errors are one line on stderr with exit status 1 (2 for usage errors).
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
from pathlib import Path

from mqttdesk import __version__
from mqttdesk.commands import register_all
from mqttdesk.commands.common import Context
from mqttdesk.core.errors import MqttdeskError

DATA_DIR_ENV = "MQTTDESK_DATA_DIR"


def default_data_dir() -> Path:
    from_env = os.environ.get(DATA_DIR_ENV)
    if from_env:
        return Path(from_env)
    import platformdirs

    return Path(platformdirs.user_data_dir("mqttdesk", appauthor=False))


def data_dir_argument(text: str) -> Path:
    """`--data-dir DIR`: an empty DIR is a usage error, not the current directory (which Path('') would be)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("must not be empty")
    return Path(text)


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The CLI's parser; with `only`, declaring little beyond that command (see `register_all`)."""
    parser = argparse.ArgumentParser(prog="mqttdesk", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--version", action="version", version=f"mqttdesk {__version__}")
    parser.add_argument("--data-dir", type=data_dir_argument, metavar="DIR",
                        help=f"where the store lives (default: ${DATA_DIR_ENV} or the platform's user data directory)")
    register_all(parser.add_subparsers(dest="command", metavar="COMMAND"), only)
    return parser


def command_word(argv: list[str]) -> str | None:
    """The command `argv` runs, when it is plain to see; "" when it runs none (the window); None when the full
    parser must sort it out."""
    words = iter(argv)
    for word in words:
        if word == "--data-dir":
            next(words, None)
        elif not word.startswith("-"):
            return word
        elif not word.startswith("--data-dir="):
            return None  # -h, --version, or something the parser must refuse
    return ""


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(command_word(argv)).parse_args(argv)
    context = Context(args.data_dir or default_data_dir())
    try:
        if args.command is None:
            from mqttdesk.app import run_gui

            return run_gui(context.data_dir)
        return int(args.handler(args, context))
    except MqttdeskError as exc:
        print(f"mqttdesk: error: {exc}", file=sys.stderr)
        return 1
    except UnicodeEncodeError as exc:
        if exc.reason != "surrogates not allowed":
            raise
        # the bytes of a name or filter on the command line that are not UTF-8 arrive as lone surrogates
        print("mqttdesk: error: an argument is not valid UTF-8", file=sys.stderr)
        return 1
    except sqlite3.DatabaseError as exc:
        print(f"mqttdesk: error: the data file in {context.data_dir} cannot be used: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"mqttdesk: error: {exc.strerror or exc}: {exc.filename or context.data_dir}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    finally:
        context.close()
