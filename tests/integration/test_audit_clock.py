"""The audit's clock against real sshd endpoints on loopback: `--timeout` holds per host from
when that host's connection starts, a refused connection says so whatever the queue, a host
whose command hangs never keeps the CLI alive, the measuring windows extend a host's deadline,
and pmc's client socket is gone even when pmc is killed.

The slow and hanging hosts are endpoints whose `ansible_python_interpreter` is a wrapper: one
sleeps before it runs python3, one writes to its SSH session until that is gone."""

from __future__ import annotations

import glob
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from colotune.audit import fanout
from colotune.host import topology
from sshd_endpoints import LoopbackSshd, free_ports

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BIN = Path(sys.executable).parent
SLACK = 6.0  # seconds a loaded 2-core machine may add to a host's deadline


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Any:
    server = LoopbackSshd(tmp_path_factory.mktemp("sshd"), ports=2).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def wrappers(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("python")
    scripts = {
        # answers, but only after 6 s
        "slow6": f'#!/bin/sh\nsleep 6\nexec {LoopbackSshd.PYTHON} "$@"\n',
        # answers within 2 s
        "slow2": f'#!/bin/sh\nsleep 2\nexec {LoopbackSshd.PYTHON} "$@"\n',
        # never answers; ends once its SSH session is gone (a write to it then fails)
        "hang": "#!/bin/sh\nwhile printf . >&2; do sleep 0.2; done\n",
    }
    paths = {}
    for name, text in scripts.items():
        path = folder / name
        path.write_text(text)
        path.chmod(0o755)
        paths[name] = str(path)
    return paths


def write_inventory(folder: Path, hosts: dict[str, dict[str, Any]]) -> Path:
    nic = sorted(topology.read(topology.SysfsTree("/")).nics)[0]
    profile = {"tuning_nic": nic, "ptp_enabled": False}
    path = folder / "hosts.yml"
    path.write_text(
        yaml.safe_dump(
            {
                "all": {
                    "children": {"lab": {"hosts": {n: {**v, **profile} for n, v in hosts.items()}}}
                }
            },
            sort_keys=False,
        )
    )
    return path


def host(
    sshd: LoopbackSshd, name: str, *, python: str | None = None, refused: bool = False
) -> dict[str, Any]:
    hv = sshd.host_vars(0, name=name)
    if python:
        hv["ansible_python_interpreter"] = python
    if refused:
        hv["ansible_port"] = free_ports(1)[0]  # nothing listens there
    return hv


def run_audit(inventory: Path, *options: str, limit: float = 120.0) -> dict[str, Any]:
    """The audit CLI with --json, unbuffered: when the report was out and when the process
    ended, measured here."""
    started = time.monotonic()
    proc = subprocess.Popen(
        [str(BIN / "colotune"), "audit", "-i", str(inventory), "-l", "lab", "--json", *options],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None and proc.stderr is not None
    lines: list[str] = []
    printed = None
    try:
        for line in proc.stdout:  # the JSON document ends with "}" alone on its line
            lines.append(line)
            if line.rstrip("\n") == "}":
                printed = time.monotonic()
                break
        rc = proc.wait(timeout=limit)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    ended = time.monotonic()
    assert printed is not None, proc.stderr.read()[-2000:]
    doc = json.loads("".join(lines))
    return {
        "rc": rc,
        "hosts": {h["host"]: h for h in doc["hosts"]},
        "elapsed": ended - started,
        "after_report": ended - printed,
        "stderr": proc.stderr.read(),
    }


def test_a_host_slower_than_its_timeout_is_a_no_go_with_the_seconds(
    sshd: LoopbackSshd, wrappers: dict[str, str], tmp_path: Path
) -> None:
    inventory = write_inventory(tmp_path, {"slow": host(sshd, "slow", python=wrappers["slow6"])})
    run = run_audit(inventory, "--timeout", "3")
    slow = run["hosts"]["slow"]
    assert slow["verdict"] == "no-go"
    assert slow["error"] == "no snapshot within 3 s (timed out)"
    assert 3.0 <= slow["seconds"] < 3.0 + SLACK
    assert run["rc"] == 2


def test_each_host_has_its_own_timeout_and_a_refusal_stays_a_refusal(
    sshd: LoopbackSshd, wrappers: dict[str, str], tmp_path: Path
) -> None:
    """One worker, three hosts: the hanging one costs its timeout, the next one still gets
    its full timeout, the refusing one says so; the CLI exits soon after its report."""
    inventory = write_inventory(
        tmp_path,
        {
            "a-hang": host(sshd, "a-hang", python=wrappers["hang"]),
            "b-slow": host(sshd, "b-slow", python=wrappers["slow2"]),
            "c-refused": host(sshd, "c-refused", refused=True),
        },
    )
    timeout = 6.0
    run = run_audit(inventory, "--workers", "1", "--timeout", str(timeout))
    hosts = run["hosts"]
    assert hosts["a-hang"]["error"] == "no snapshot within 6 s (timed out)"
    assert timeout <= hosts["a-hang"]["seconds"] < timeout + SLACK
    assert hosts["b-slow"]["error"] is None, hosts["b-slow"]["error"]
    assert hosts["b-slow"]["findings"]
    assert "connection refused" in hosts["c-refused"]["error"]
    assert "timed out" not in hosts["c-refused"]["error"]
    assert run["rc"] == 2
    # the hanging host's session is closed, not waited for
    assert run["after_report"] < 10.0, run["stderr"][-2000:]


def test_a_measuring_window_extends_the_hosts_deadline(
    sshd: LoopbackSshd, wrappers: dict[str, str], tmp_path: Path
) -> None:
    if not any(os.access(f"{d}/pmc", os.X_OK) for d in ("/usr/sbin", "/usr/bin", "/sbin")):
        pytest.skip("pmc (linuxptp) is not installed: the collector has no PTP window to sample")
    inventory = write_inventory(
        tmp_path,
        {"ok": host(sshd, "ok"), "hang": host(sshd, "hang", python=wrappers["hang"])},
    )
    run = run_audit(inventory, "--timeout", "3", "--ptp-window", "4", "--workers", "2")
    ok, hang = run["hosts"]["ok"], run["hosts"]["hang"]
    assert ok["error"] is None, ok["error"]
    assert ok["seconds"] >= 4.0  # longer than --timeout alone: the window counts
    assert hang["error"] == "no snapshot within 7 s (timed out)"
    assert 7.0 <= hang["seconds"] < 7.0 + SLACK


def _pmc_sockets() -> set[str]:
    found = glob.glob("/var/run/pmc.*") + glob.glob("/run/pmc.*")
    return set(found + glob.glob("/tmp/colotune-pmc*"))


def test_pmc_client_socket_is_removed_when_pmc_is_killed(
    sshd: LoopbackSshd, tmp_path: Path
) -> None:
    """A ptp4l socket that takes no more datagrams: pmc blocks sending until the collector
    kills it; its client socket must not stay behind on the host."""
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = str(tmp_path / "ptp4l")
    server.bind(path)
    filler = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    filler.setblocking(False)
    try:
        while True:  # fill the receive queue (net.unix.max_dgram_qlen datagrams)
            try:
                filler.sendto(b"x", path)
            except BlockingIOError:
                break
        before = _pmc_sockets()
        outcome = fanout.collect_all(
            {"loop": sshd.host_vars(0, name="loop")},
            args={"loop": ["--pmc-sockets", path, "--nics", "lo"]},
            timeout=30.0,
        )["loop"]
    finally:
        filler.close()
        server.close()
    assert outcome.raw is not None, outcome.error
    samples = outcome.raw["ptp"]["samples"][path]
    assert samples and samples[0]["rc"] is None  # pmc was killed on its timeout
    # Other collectors on this machine may hold a pmc socket for a moment: only one that
    # stays is left behind.
    deadline = time.monotonic() + 15.0
    while (left := _pmc_sockets() - before) and time.monotonic() < deadline:
        time.sleep(0.2)  # polling a condition with a deadline
    assert left == set()
