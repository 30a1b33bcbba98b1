"""Benchmark: `colotune audit` fan-out vs the testinfra suite, N sshd endpoints on loopback.

    .venv/bin/python benchmarks/audit_fanout.py [--sizes 1,10,50] [--repeats 3]

For each N: one sshd listening on N loopback ports (N hosts in a generated
inventory), then side by side in the same run:
  - audit in-process: pyinfra fan-out + every control (what `colotune audit` does after
    loading the inventory),
  - audit CLI end to end (`colotune audit -l lab --json`, inventory loading included),
  - the testinfra suite (`pytest validators --hosts=ansible://lab`), same inventory.
Prints wall-time distributions, per-host collector CPU (getrusage inside the collector)
and per-host collection latency (P50, P99, P99.9, max, tail ratio P99.9/P50), and the
ratio testinfra / audit. Goal on a 2-core machine: 50 hosts < 10 s, >= 5x faster than
testinfra. Never fails on a time; it reports, with the machine's load average: the N
endpoints share the machine's cores with the controller, so other work on it (VMs) shows.
Logins on the endpoints get a HOME of their own (tests/sshd_endpoints.py), so that what is
measured is not the development machine's root ~/.bashrc, which Debian's bash sources for
every SSH command.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from colotune import inventory  # noqa: E402
from colotune.audit import audit  # noqa: E402
from colotune.host import topology  # noqa: E402
from sshd_endpoints import LoopbackSshd  # noqa: E402

BIN = Path(sys.executable).parent


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def dist(values: list[float], unit: str) -> str:
    if not values:
        return "no samples"
    p50, p99, p999 = (quantile(values, q) for q in (0.5, 0.99, 0.999))
    tail = p999 / p50 if p50 else float("nan")
    return (
        f"n={len(values):<4} P50 {p50:8.1f}{unit}  P99 {p99:8.1f}{unit}  P99.9 {p999:8.1f}{unit}"
        f"  max {max(values):8.1f}{unit}  tail {tail:5.2f}"
    )


def write_inventory(folder: Path, sshd: LoopbackSshd, count: int) -> Path:
    nic = sorted(topology.read(topology.SysfsTree("/")).nics)[0]
    hosts = {
        f"bench{i:03d}": {
            **sshd.host_vars(i, name=f"bench{i:03d}"),
            "tuning_nic": nic,
            "ptp_enabled": False,
        }
        for i in range(count)
    }
    path = folder / "hosts.yml"
    path.write_text(yaml.safe_dump({"all": {"children": {"lab": {"hosts": hosts}}}}))
    return path


def env() -> dict[str, str]:
    return {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}"}


def run_size(count: int, repeats: int, testinfra_repeats: int) -> dict[str, Any]:
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="colotune-bench-") as tmp:
        folder = Path(tmp)
        with LoopbackSshd(folder, ports=count) as sshd:
            inv = write_inventory(folder, sshd, count)
            hosts = inventory.load_hosts(str(inv), "lab")
            inproc, cli, suite = [], [], []
            cpu_ms: list[float] = []
            latency: list[float] = []
            unreachable = 0
            for _ in range(repeats):
                run = audit(hosts, timeout=30.0)
                inproc.append(run.seconds)
                for report in run.reports:
                    if report.error:
                        unreachable += 1
                        continue
                    cpu_ms.append(float(report.collector.get("cpu_ms", 0.0)))
                    latency.append(report.seconds * 1000)
            for _ in range(repeats):
                started = time.monotonic()
                subprocess.run(
                    [
                        str(BIN / "colotune"),
                        "audit",
                        "-i",
                        str(inv),
                        "-l",
                        "lab",
                        "--json",
                        "--history",
                        str(folder / "history.jsonl"),
                        "--timeout",
                        "30",
                    ],
                    capture_output=True,
                    env=env(),
                    check=False,
                )
                cli.append(time.monotonic() - started)
            for _ in range(testinfra_repeats):
                started = time.monotonic()
                done = subprocess.run(
                    [
                        str(BIN / "pytest"),
                        str(REPO / "validators"),
                        "--hosts=ansible://lab",
                        f"--ansible-inventory={inv}",
                        f"--ssh-config={sshd.client_config}",
                        "-q",
                    ],
                    capture_output=True,
                    text=True,
                    env=env(),
                    cwd=REPO,
                    check=False,
                )
                suite.append(time.monotonic() - started)
                summary = (done.stdout.strip().splitlines() or ["no output"])[-1]
                print(f"  (testinfra N={count}: {summary})", file=sys.stderr)
    return {
        "hosts": count,
        "audit_inprocess_s": inproc,
        "audit_cli_s": cli,
        "testinfra_s": suite,
        "collector_cpu_ms": cpu_ms,
        "host_latency_ms": latency,
        "unreachable": unreachable,
        "load_before": load_before,
        "load_after": os.getloadavg()[0],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,10,50")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--testinfra-repeats", type=int, default=1)
    parser.add_argument("--json", type=Path, help="also write the raw numbers here")
    args = parser.parse_args()
    baseline = []
    python = LoopbackSshd.PYTHON
    for _ in range(10):  # the floor: the endpoints' interpreter starting and exiting
        done = subprocess.run(
            [
                python,
                "-S",
                "-c",
                "import resource as r;u=r.getrusage(r.RUSAGE_SELF);print(u.ru_utime+u.ru_stime)",
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        baseline.append(float(done.stdout) * 1000)
    print(f"{python} -S start-up alone (CPU): {dist(baseline, ' ms')}")
    results = []
    for count in (int(s) for s in args.sizes.split(",")):
        result = run_size(count, args.repeats, args.testinfra_repeats)
        results.append(result)
        audit_cli = statistics.median(result["audit_cli_s"])
        suite = statistics.median(result["testinfra_s"]) if result["testinfra_s"] else float("nan")
        print(
            f"\nN = {count} hosts ({result['unreachable']} unreachable collections; load "
            f"average {result['load_before']:.1f} before, {result['load_after']:.1f} after)"
        )
        print(f"  audit fan-out + controls (wall):   {dist(result['audit_inprocess_s'], ' s')}")
        print(f"  audit CLI end to end (wall):       {dist(result['audit_cli_s'], ' s')}")
        print(f"  testinfra suite end to end (wall): {dist(result['testinfra_s'], ' s')}")
        print(f"  collector CPU per host:            {dist(result['collector_cpu_ms'], ' ms')}")
        print(f"  collection latency per host:       {dist(result['host_latency_ms'], ' ms')}")
        print(f"  ratio testinfra / audit CLI (P50): {suite / audit_cli:6.2f}x")
        print(
            f"  ratio testinfra / audit fan-out:   "
            f"{suite / statistics.median(result['audit_inprocess_s']):6.2f}x"
        )
    if args.json:
        args.json.write_text(json.dumps({"baseline_cpu_ms": baseline, "sizes": results}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
