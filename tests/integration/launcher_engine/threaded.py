"""A small engine stand-in for the launcher's tests: named threads, signals, stats, exit code.

    python3 threaded.py --names lt-hot,lt-aux --out DIR [--exit-code N]
                        [--late NAME=S] [--start-after NAME=S] [--end-after S] [--ignore-term]

Starts one thread per name (the kernel's thread name set with prctl, as C engines
do with pthread_setname_np), each sleeping in short steps (no busy loop). Writes
DIR/ready when all exist; on SIGUSR1 appends "USR1" to DIR/signals and writes
DIR/stats.json; on SIGTERM or SIGINT records the signal and exits with --exit-code.
It takes no pinning option: the launcher must place its threads after the start.

To make the launcher's races happen on purpose: `--late NAME=S` lets thread NAME run
under its creator's name for S seconds before it takes its own; `--start-after NAME=S`
starts thread NAME S seconds after DIR/ready; `--end-after S` makes the engine end by
itself S seconds after DIR/ready; `--ignore-term` ignores SIGTERM (a stop must be forced).
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import signal
import threading
import time
from pathlib import Path

PR_SET_NAME = 15
stop = threading.Event()


def named(name: str, late_s: float) -> None:
    if late_s:
        time.sleep(late_s)
    ctypes.CDLL(None).prctl(PR_SET_NAME, name.encode(), 0, 0, 0)
    while not stop.wait(0.05):
        pass


def seconds_by_name(values: list[str]) -> dict[str, float]:
    pairs = (value.split("=", 1) for value in values)
    return {name: float(seconds) for name, seconds in pairs}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--names", required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--exit-code", type=int, default=0)
    parser.add_argument("--late", action="append", default=[])
    parser.add_argument("--start-after", action="append", default=[])
    parser.add_argument("--end-after", type=float)
    parser.add_argument("--ignore-term", action="store_true")
    args = parser.parse_args()
    out: Path = args.out
    late = seconds_by_name(args.late)
    start_after = seconds_by_name(args.start_after)

    def record(signum: int, _frame: object) -> None:
        with (out / "signals").open("a") as handle:
            handle.write(signal.Signals(signum).name + "\n")
        if signum == signal.SIGUSR1:
            (out / "stats.json").write_text(json.dumps({"usr1": True, "pid": os.getpid()}))
        elif not (signum == signal.SIGTERM and args.ignore_term):
            stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1):
        signal.signal(sig, record)
    names = args.names.split(",")
    workers = {n: threading.Thread(target=named, args=(n, late.get(n, 0.0))) for n in names}
    for name, worker in workers.items():
        if name not in start_after:
            worker.start()
    (out / "ready").write_text(str(os.getpid()))
    started = time.monotonic()
    while not stop.is_set():
        elapsed = time.monotonic() - started
        for name, after in list(start_after.items()):
            if elapsed >= after:
                workers[name].start()
                del start_after[name]
        if args.end_after is not None and elapsed >= args.end_after:
            stop.set()
        time.sleep(0.05)
    for worker in workers.values():
        if worker.is_alive():
            worker.join()
    return int(args.exit_code)


if __name__ == "__main__":
    raise SystemExit(main())
