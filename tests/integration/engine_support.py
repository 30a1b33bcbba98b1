"""Runs the reference engine (feedsim -> t2t -> gwsim) inside a throwaway network namespace.

Shared by the engine integration tests and benchmarks/tick_to_trade.py. Every process is
started here, stopped by PID, and the namespace is removed afterwards.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
ENGINE = REPO / "engine"
BUILD = ENGINE / "build"
GROUP = "239.1.1.1"
FEED_PORT = 31001
GW_PORT = 31002


def build(target: str = "all") -> Path:
    """Build the engine with make; returns the directory holding the binaries."""
    subprocess.run(["make", "-s", "-C", str(ENGINE), target], check=True, capture_output=True)
    return BUILD / "asan" if target == "asan" else BUILD


def wait_for(cond: Callable[[], bool], timeout: float, what: str, step: float = 0.02) -> None:
    """Poll cond until true; raise TimeoutError naming what was awaited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(step)
    if cond():
        return
    raise TimeoutError(f"timed out after {timeout} s waiting for {what}")


def read_json(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


@contextlib.contextmanager
def netns() -> Iterator[str]:
    """A fresh network namespace with loopback up and multicast routed to lo."""
    name = f"ct-eng-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        for cmd in (
            ["ip", "link", "set", "lo", "up"],
            ["ip", "link", "set", "lo", "multicast", "on"],
            ["ip", "route", "add", "224.0.0.0/4", "dev", "lo"],
        ):
            subprocess.run(["ip", "-n", name, *cmd[1:]], check=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


@dataclass
class Proc:
    """A process started in the namespace, with its stderr captured in a file."""

    name: str
    popen: subprocess.Popen[bytes]
    stderr_path: Path

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def signal(self, sig: int) -> None:
        if self.popen.poll() is None:
            os.kill(self.popen.pid, sig)

    def wait(self, timeout: float) -> int:
        return self.popen.wait(timeout=timeout)

    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM by PID, then SIGKILL if it does not exit in time."""
        if self.popen.poll() is None:
            os.kill(self.popen.pid, signal.SIGTERM)
            try:
                return self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.popen.pid, signal.SIGKILL)
                return self.popen.wait(timeout=timeout)
        return self.popen.returncode


@dataclass
class Rig:
    """feedsim, t2t and gwsim in one namespace; files under workdir."""

    ns: str
    workdir: Path
    bindir: Path
    procs: list[Proc] = field(default_factory=list)

    def path(self, name: str) -> Path:
        return self.workdir / name

    def start(self, name: str, args: list[str], prefix: list[str] | None = None) -> Proc:
        err = self.path(f"{name}.stderr")
        out = self.path(f"{name}.stdout")
        cmd = ["ip", "netns", "exec", self.ns, *(prefix or []), str(self.bindir / name), *args]
        with err.open("wb") as e, out.open("wb") as o:
            popen = subprocess.Popen(cmd, stdout=o, stderr=e)
        proc = Proc(name, popen, err)
        self.procs.append(proc)
        return proc

    def gwsim(self, *extra: str) -> Proc:
        p = self.start(
            "gwsim",
            [
                "--listen",
                f"127.0.0.1:{GW_PORT}",
                "--report",
                str(self.path("gwsim.json")),
                "--log",
                str(self.path("gwsim.log")),
                *extra,
            ],
        )
        wait_for(
            lambda: "listening" in p.stderr or p.popen.poll() is not None, 10, "gwsim to listen"
        )
        assert p.popen.poll() is None, f"gwsim exited: {p.stderr}"
        return p

    def t2t(self, *extra: str, ready: bool = True, prefix: list[str] | None = None) -> Proc:
        p = self.start(
            "t2t",
            [
                "--group",
                GROUP,
                "--port",
                str(FEED_PORT),
                "--iface",
                "127.0.0.1",
                "--gateway",
                f"127.0.0.1:{GW_PORT}",
                "--stats",
                str(self.path("t2t.json")),
                *extra,
            ],
            prefix=prefix,
        )
        if ready:
            wait_for(
                lambda: "t2t: ready" in p.stderr or p.popen.poll() is not None,
                15,
                "t2t to join the feed and log in",
            )
            assert p.popen.poll() is None, f"t2t exited early: {p.stderr}"
        return p

    def feedsim(self, *extra: str, timeout: float = 120) -> dict[str, Any]:
        """Run feedsim to completion and return its report."""
        report = self.path("feedsim.json")
        p = self.start(
            "feedsim",
            ["--group", GROUP, "--port", str(FEED_PORT), "--report", str(report), *extra],
        )
        rc = p.wait(timeout)
        assert rc == 0, f"feedsim failed ({rc}): {p.stderr}"
        return read_json(report)

    def stats_now(self, t2t: Proc) -> dict[str, Any]:
        """Ask a running t2t for its statistics (SIGUSR1) and return them."""
        path = self.path("t2t.json")
        before = path.stat().st_mtime_ns if path.exists() else 0
        t2t.signal(signal.SIGUSR1)
        wait_for(
            lambda: path.exists() and path.stat().st_mtime_ns != before,
            10,
            "t2t to write its statistics after SIGUSR1",
        )
        return read_json(path)

    def close(self) -> None:
        for p in self.procs:
            p.stop()


@contextlib.contextmanager
def rig(tmp: Path, bindir: Path | None = None) -> Iterator[Rig]:
    if os.geteuid() != 0:
        raise PermissionError("the engine rig needs root for network namespaces")
    if shutil.which("ip") is None:
        raise FileNotFoundError("iproute2 'ip' is required (scripts/install installs it)")
    with netns() as ns:
        r = Rig(ns=ns, workdir=tmp, bindir=bindir or BUILD)
        try:
            yield r
        finally:
            r.close()


def hist_summary(h: dict[str, Any]) -> dict[str, Any]:
    """P50, P99, P99.9, max and tail ratio P99.9/P50 of a histogram from the JSON output."""
    p50 = h.get("p50")
    p999 = h.get("p999")
    ratio = (p999 / p50) if p50 and p999 else None
    return {
        "count": h.get("count", 0),
        "p50": p50,
        "p99": h.get("p99"),
        "p999": p999,
        "max": h.get("max"),
        "tail_ratio": ratio,
    }
