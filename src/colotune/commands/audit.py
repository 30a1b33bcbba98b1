"""`colotune audit`: the pre-open go/no-go for every selected inventory host.

Exit codes: 0 every host go; 1 drift only in waived or warning controls;
2 a failing control or an unreachable host (or bad input); 3 colotune itself failed
(with --prom, the textfile then says colotune_audit_run_ok 0).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from pathlib import Path

from colotune import inventory
from colotune.audit import audit, exit_code, fanout, history, outputs
from colotune.audit import waivers as waiver_mod
from colotune.commands.argtypes import positive_int, positive_seconds
from colotune.commands.inventory import add_inventory_options
from colotune.facts.remote import collector_args


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "audit",
        help="pre-open drift audit: go/no-go per host from the controls",
        description="Collect one snapshot per host over SSH (in parallel, connection settings "
        "from the Ansible inventory), judge every control against the host's plan, and print "
        "a go/no-go table. Exit 0 all go, 1 drift only in waived or warning controls, 2 a "
        "failing control or an unreachable host.",
    )
    add_inventory_options(parser, limit_required=True)
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--junit", type=Path, metavar="FILE", help="write JUnit XML")
    parser.add_argument("--html", type=Path, metavar="FILE", help="write a self-contained page")
    parser.add_argument(
        "--prom", type=Path, metavar="FILE", help="write a node_exporter textfile (.prom)"
    )
    parser.add_argument(
        "--since-last", action="store_true", help="show what changed since the previous audit"
    )
    parser.add_argument(
        "--timeout",
        type=positive_seconds,
        default=20.0,
        metavar="SECONDS",
        help="per-host limit from connect to snapshot, plus --irq-window and --ptp-window; "
        "a host slower than this is a no-go (default 20)",
    )
    parser.add_argument(
        "--waivers",
        type=Path,
        metavar="FILE",
        help="waiver file (validators/waivers/<env>.yml); expired waivers do not apply",
    )
    parser.add_argument(
        "--irq-window",
        type=positive_seconds,
        default=0.0,
        metavar="SECONDS",
        help="also count interrupts on isolated CPUs over this window (TUN-025)",
    )
    parser.add_argument(
        "--ptp-window",
        type=positive_seconds,
        default=0.0,
        metavar="SECONDS",
        help="sample the PTP offset over this window instead of once (PTP-003/005)",
    )
    parser.add_argument(
        "--workers", type=positive_int, default=32, help="parallel SSH sessions (1-1024)"
    )
    parser.add_argument(
        "--history",
        type=Path,
        default=None,
        help=f"history file (default ${history.ENV} or ~/.local/state/colotune/"
        "audit-history.jsonl)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    parser.set_defaults(func=_audit)


class _Progress:
    """A one-line progress bar on stderr, only when stderr is a terminal."""

    def __init__(self, total: int, *, enabled: bool) -> None:
        self.total = total
        self.done = 0
        self.failed = 0
        self.enabled = enabled and sys.stderr.isatty()

    def __call__(self, outcome: fanout.Outcome) -> None:
        self.done += 1
        self.failed += outcome.raw is None
        if not self.enabled:
            return
        width = 30
        filled = width * self.done // max(1, self.total)
        bar = "#" * filled + "." * (width - filled)
        sys.stderr.write(
            f"\r[{bar}] {self.done}/{self.total} hosts collected"
            + (f", {self.failed} unreachable" if self.failed else "")
        )
        if self.done == self.total:
            sys.stderr.write("\n")
        sys.stderr.flush()


def _audit(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except BaseException:
        # Bad input, an internal error or an interrupt: the textfile says the run failed,
        # so a dashboard never shows the previous run's go as current.
        if args.prom:
            with contextlib.suppress(OSError):
                outputs.write_prom_failed(args.prom, now=time.time())
        raise


def _run(args: argparse.Namespace) -> int:
    hosts = inventory.load_hosts(args.inventory or inventory.default_inventory(), args.limit)
    waivers = waiver_mod.load(args.waivers)
    progress = _Progress(len(hosts), enabled=not args.no_progress and not args.json)
    run = audit(
        hosts,
        timeout=args.timeout,
        window=args.irq_window + args.ptp_window,
        waivers=waivers,
        collector_args=collector_args(irq_window=args.irq_window, ptp_window=args.ptp_window),
        workers=args.workers,
        on_done=progress,
    )
    doc = outputs.document(run.reports, started=run.started, seconds=run.seconds)
    history_path = args.history or history.default_path()
    previous = history.last_seen(history_path, [h.name for h in hosts]) if args.since_last else {}
    if args.json:
        if args.since_last:
            doc["since_last"] = history.changes(previous, run.reports)
        print(json.dumps(doc, indent=2))
    else:
        print(outputs.table(run.reports))
        print(f"audit took {run.seconds:.1f} s")
        if args.since_last:
            print("Since the last audit:")
            for line in history.changes(previous, run.reports):
                print(f"  {line}")
    if args.junit:
        outputs.write_junit(args.junit, run.reports, seconds=run.seconds)
    if args.html:
        outputs.write_html(args.html, run.reports, started=run.started, seconds=run.seconds)
    if args.prom:
        outputs.write_prom(args.prom, run.reports, seconds=run.seconds, now=time.time())
    history.append(
        history_path, history.entry(run.reports, started=doc["started"], pattern=args.limit)
    )
    return exit_code(run.reports)
