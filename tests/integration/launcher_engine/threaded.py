"""A small engine stand-in for the launcher's tests: named threads, signals, stats, exit code.

    python3 threaded.py --names lt-hot,lt-aux --out DIR [--exit-code N]

Starts one thread per name (the kernel's thread name set with prctl, as C engines
do with pthread_setname_np), each sleeping in short steps (no busy loop). Writes
DIR/ready when all exist; on SIGUSR1 appends "USR1" to DIR/signals and writes
DIR/stats.json; on SIGTERM or SIGINT records the signal and exits with --exit-code.
It takes no pinning option: the launcher must place its threads after the start.
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


def named(name: str) -> None:
    ctypes.CDLL(None).prctl(PR_SET_NAME, name.encode(), 0, 0, 0)
    while not stop.wait(0.05):
        pass


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--names", required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--exit-code", type=int, default=0)
    args = parser.parse_args()
    out: Path = args.out

    def record(signum: int, _frame: object) -> None:
        with (out / "signals").open("a") as handle:
            handle.write(signal.Signals(signum).name + "\n")
        if signum == signal.SIGUSR1:
            (out / "stats.json").write_text(json.dumps({"usr1": True, "pid": os.getpid()}))
        else:
            stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1):
        signal.signal(sig, record)
    workers = [threading.Thread(target=named, args=(n,)) for n in args.names.split(",")]
    for worker in workers:
        worker.start()
    (out / "ready").write_text(str(os.getpid()))
    while not stop.is_set():
        time.sleep(0.05)
    for worker in workers:
        worker.join()
    return int(args.exit_code)


if __name__ == "__main__":
    raise SystemExit(main())
