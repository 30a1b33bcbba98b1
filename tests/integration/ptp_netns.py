"""Two network namespaces joined by a veth pair, ptp4l in each, and a guard on the machine's clock.

Used by the PTP integration tests. Everything here is created with unique names
and removed afterwards; every process is started and stopped by PID; waits are
bounded. Both namespaces share this machine's CLOCK_REALTIME: a steering client
changes the kernel's clock frequency and status, so `ClockGuard` saves them
(adjtimex) before and restores them after, and checks that the restore took.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

# adjtimex(2) mode bits
ADJ_FREQUENCY = 0x0002
ADJ_MAXERROR = 0x0004
ADJ_ESTERROR = 0x0008
ADJ_STATUS = 0x0010
ADJ_TICK = 0x4000


class Timex(ctypes.Structure):
    """struct timex of <sys/timex.h> (x86-64 layout)."""

    _fields_ = [  # noqa: RUF012 - ctypes wants a class attribute list
        ("modes", ctypes.c_uint),
        ("offset", ctypes.c_long),
        ("freq", ctypes.c_long),
        ("maxerror", ctypes.c_long),
        ("esterror", ctypes.c_long),
        ("status", ctypes.c_int),
        ("constant", ctypes.c_long),
        ("precision", ctypes.c_long),
        ("tolerance", ctypes.c_long),
        ("time_sec", ctypes.c_long),
        ("time_usec", ctypes.c_long),
        ("tick", ctypes.c_long),
        ("ppsfreq", ctypes.c_long),
        ("jitter", ctypes.c_long),
        ("shift", ctypes.c_int),
        ("stabil", ctypes.c_long),
        ("jitcnt", ctypes.c_long),
        ("calcnt", ctypes.c_long),
        ("errcnt", ctypes.c_long),
        ("stbcnt", ctypes.c_long),
        ("tai", ctypes.c_int),
        ("_reserved", ctypes.c_int * 11),
    ]


_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)


def adjtimex(modes: int = 0, **values: int) -> Timex:
    tx = Timex()
    tx.modes = modes
    for key, value in values.items():
        setattr(tx, key, value)
    if _libc.adjtimex(ctypes.byref(tx)) < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"adjtimex: {os.strerror(err)}")
    return tx


KEPT = ("freq", "status", "maxerror", "esterror", "tick")


def clock_state() -> dict[str, int]:
    tx = adjtimex()
    return {key: int(getattr(tx, key)) for key in KEPT}


def can_steer_clock() -> bool:
    """True if this process may write the kernel clock's parameters (CAP_SYS_TIME)."""
    try:
        now = adjtimex()
        adjtimex(ADJ_FREQUENCY, freq=now.freq)
    except OSError:
        return False
    return True


@contextmanager
def clock_guard() -> Iterator[dict[str, int]]:
    """Save the clock's frequency and status, and put them back afterwards, whatever happens."""
    saved = clock_state()
    try:
        yield saved
    finally:
        adjtimex(
            ADJ_FREQUENCY | ADJ_STATUS | ADJ_MAXERROR | ADJ_ESTERROR | ADJ_TICK,
            freq=saved["freq"],
            status=saved["status"],
            maxerror=saved["maxerror"],
            esterror=saved["esterror"],
            tick=saved["tick"],
        )
    restored = clock_state()
    # maxerror and esterror grow by themselves every second; the rest must be as before.
    for key in ("freq", "status", "tick"):
        assert restored[key] == saved[key], f"clock {key} not restored: {restored} vs {saved}"


def wait_until(predicate: Callable[[], T | None], *, timeout: float, every: float = 0.25) -> T:
    """Poll `predicate` until it returns something truthy; TimeoutError after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"condition not met within {timeout:g} s")
        time.sleep(every)


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


@dataclass
class Ptp4l:
    name: str
    netns: str
    interface: str
    config: Path
    uds: str
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> None:
        with self.log.open("wb") as out:
            # `ip netns exec` execs ptp4l in place: the PID is ptp4l's own.
            self.proc = subprocess.Popen(
                ["ip", "netns", "exec", self.netns, "ptp4l", "-f", str(self.config), "-m"],
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.kill(self.proc.pid, sig)
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)

    def pmc(self, *queries: str) -> str:
        done = subprocess.run(
            ["pmc", "-u", "-b", "0", "-s", self.uds, *queries],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
        return done.stdout


@dataclass
class PtpPair:
    """A grandmaster and a client ptp4l, each in its own namespace, over one veth pair."""

    workdir: Path
    tag: str = field(default_factory=lambda: secrets.token_hex(3))
    namespaces: list[str] = field(default_factory=list)
    daemons: list[Ptp4l] = field(default_factory=list)
    clock_saved: dict[str, int] | None = None  # the clock as it was, when it can be restored

    def create(self) -> None:
        gm_ns, cl_ns = f"colotune-ptp-{self.tag}-gm", f"colotune-ptp-{self.tag}-cl"
        gm_if, cl_if = f"ctpg{self.tag}", f"ctpc{self.tag}"
        _ip("netns", "add", gm_ns)
        self.namespaces.append(gm_ns)
        _ip("netns", "add", cl_ns)
        self.namespaces.append(cl_ns)
        _ip("link", "add", gm_if, "netns", gm_ns, "type", "veth", "peer", "name", cl_if,
            "netns", cl_ns)  # fmt: skip
        for ns, ifname in ((gm_ns, gm_if), (cl_ns, cl_if)):
            _ip("-n", ns, "link", "set", "lo", "up")
            _ip("-n", ns, "link", "set", ifname, "up")
        self.gm_ns, self.cl_ns, self.gm_if, self.cl_if = gm_ns, cl_ns, gm_if, cl_if

    def ptp4l(self, name: str, *, netns: str, interface: str, settings: dict[str, Any]) -> Ptp4l:
        uds = str(self.workdir / f"{name}.sock")
        lines = ["[global]", f"uds_address {uds}"]
        lines += [f"{key} {value}" for key, value in settings.items()]
        lines += [f"[{interface}]", ""]
        config = self.workdir / f"{name}.cfg"
        config.write_text("\n".join(lines))
        daemon = Ptp4l(name, netns, interface, config, uds, self.workdir / f"{name}.log")
        self.daemons.append(daemon)
        return daemon

    def destroy(self) -> None:
        for daemon in self.daemons:
            daemon.stop()
        for ns in self.namespaces:
            subprocess.run(["ip", "netns", "delete", ns], capture_output=True, timeout=10)
        self.namespaces.clear()


def missing_tools() -> list[str]:
    return [tool for tool in ("ip", "ptp4l", "pmc") if shutil.which(tool) is None]
