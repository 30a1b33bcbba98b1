"""The `colotune` command: one entry point, one subcommand per job.

Exit codes (the same for every subcommand):
  0  done / all go
  1  drift only in waived or warning controls (audit)
  2  bad input, a failing control, or an unreachable host; the message says which
  3  colotune itself failed (a bug): one line says where; COLOTUNE_DEBUG=1 shows the traceback
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

from colotune.errors import ColotuneError
from colotune.host.topology import TopologyError

EXIT_OK = 0
EXIT_DRIFT = 1
EXIT_ERROR = 2
EXIT_INTERNAL = 3
DEBUG_ENV = "COLOTUNE_DEBUG"


class _Command(Protocol):
    def register(self, subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
        """Add the subcommand's parser; set `func` to a callable taking the parsed args."""


# Each module adds its own subcommand; the order is the order of `colotune --help`.
COMMAND_MODULES = [
    "colotune.commands.inventory",
    "colotune.commands.topology",
    "colotune.commands.plan",
    "colotune.commands.audit",
    "colotune.commands.lab",
    "colotune.commands.probe",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="colotune",
        description="Tune, deploy and audit low-latency trading servers.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        module: _Command = importlib.import_module(name)
        module.register(subparsers)
    return parser


def internal_error(exc: BaseException) -> str:
    """One line for an exception colotune did not expect: its type, the file:line of the
    innermost colotune frame, its message and what to do."""
    package = Path(__file__).resolve().parent
    where = "?"
    for frame in traceback.extract_tb(exc.__traceback__):
        path = Path(frame.filename).resolve()
        if path.is_relative_to(package):
            where = f"{path.relative_to(package.parent)}:{frame.lineno} in {frame.name}"
    message = " ".join(str(exc).split())
    if len(message) > 200:
        message = message[:197] + "..."
    return (
        f"colotune: internal error: {type(exc).__name__} at {where}"
        + (f": {message}" if message else "")
        + f"; this is a colotune bug, rerun with {DEBUG_ENV}=1 for the traceback"
    )


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        func: Callable[[argparse.Namespace], int] = args.func
        return func(args)
    except (ColotuneError, TopologyError) as exc:
        print(f"colotune: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("colotune: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug: never exit 1, which reads as drift
        print(internal_error(exc), file=sys.stderr)
        if os.environ.get(DEBUG_ENV) == "1":
            traceback.print_exception(exc, file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":
    raise SystemExit(main())
