"""The `colotune` command: one entry point, one subcommand per job.

Exit codes (the same for every subcommand):
  0  done / all go
  1  drift only in waived or warning controls (audit)
  2  bad input, a failing control, or an unreachable host; the message says which
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from typing import Protocol

from colotune.errors import ColotuneError
from colotune.host.topology import TopologyError

EXIT_OK = 0
EXIT_DRIFT = 1
EXIT_ERROR = 2


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


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except (ColotuneError, TopologyError) as exc:
        print(f"colotune: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("colotune: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
