"""The lab's guest boot script, run for real in a network namespace of its own.

The script (src/colotune/lab/guest/colotune-lab-boot.sh) must never touch a NIC
under the kernel's name: a NIC that is up can no longer be renamed, and one brought
up before udev renamed it keeps its ethN name for the whole boot (a lab VM once came
back from a reboot with its trading NIC as eth0). Here veth interfaces stand in for
the NICs and the test plays udev: it renames them while the script waits.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from colotune.lab import image

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("ip") is None,
    reason="needs root and iproute2 (network namespaces)",
)


@pytest.fixture
def netns() -> Iterator[str]:
    name = f"ct-boot-{secrets.token_hex(3)}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


def _ns(ns: str, *argv: str) -> str:
    return subprocess.run(
        ["ip", "netns", "exec", ns, *argv], capture_output=True, text=True, check=True
    ).stdout


def _env_file(tmp_path: Path, wait_s: int) -> Path:
    console = tmp_path / "console"
    console.touch()
    env = tmp_path / "colotune-lab"
    env.write_text(
        "MGMT_NIC=ctmgmt0\nMGMT_ADDR=10.99.0.15/24\nMGMT_GATEWAY=10.99.0.2\n"
        f"TRADE_NICS=cttrade0\nNIC_WAIT_S={wait_s}\n"
        f"SERIAL_FILE={tmp_path / 'no-serial'}\nCONSOLE={console}\n"
    )
    return env


def _start(ns: str, env: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        ["ip", "netns", "exec", ns, "sh", str(image.GUEST_DIR / "colotune-lab-boot.sh")],
        env={**os.environ, "COLOTUNE_LAB_ENV": str(env)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _nics(ns: str, *names: str) -> None:
    """Interfaces called `names` (veth pairs: this kernel may have no dummy driver), with
    their peers up so that each has a carrier once the script raises it."""
    for i, name in enumerate(names):
        _ns(ns, "ip", "link", "add", name, "type", "veth", "peer", "name", f"ctpeer{i}")
        _ns(ns, "ip", "link", "set", f"ctpeer{i}", "up")


def _is_up(ns: str, nic: str) -> bool:
    flags = _ns(ns, "ip", "-br", "link", "show", nic).split()[-1]  # <BROADCAST,...,UP,...>
    return "UP" in flags.strip("<>").split(",")


def test_the_script_waits_for_the_pinned_names_and_never_raises_a_kernel_named_nic(
    netns: str, tmp_path: Path
) -> None:
    _nics(netns, "eth0", "eth1")
    proc = _start(netns, _env_file(tmp_path, wait_s=30))
    try:
        time.sleep(1.5)  # the script is waiting: udev has not renamed anything yet
        assert proc.poll() is None, proc.communicate()[0]
        assert not _is_up(netns, "eth0") and not _is_up(netns, "eth1")
        _ns(netns, "ip", "link", "set", "eth0", "name", "ctmgmt0")  # rename, as udev does
        time.sleep(0.5)
        _ns(netns, "ip", "link", "set", "eth1", "name", "cttrade0")  # an up NIC: EBUSY
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, out
    assert _is_up(netns, "ctmgmt0") and _is_up(netns, "cttrade0")
    assert "10.99.0.15/24" in _ns(netns, "ip", "-4", "-br", "addr", "show", "ctmgmt0")
    assert "default via 10.99.0.2 dev ctmgmt0" in _ns(netns, "ip", "route", "show", "default")
    console = (tmp_path / "console").read_text()
    assert "ctmgmt0" in console and "cttrade0" in console


def test_a_nic_that_never_gets_its_name_is_left_alone_and_reported(
    netns: str, tmp_path: Path
) -> None:
    _nics(netns, "ctmgmt0", "eth1")  # udev never renames eth1
    proc = _start(netns, _env_file(tmp_path, wait_s=1))
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 1, out
    assert _is_up(netns, "ctmgmt0")
    assert not _is_up(netns, "eth1")
    assert (
        "no interface cttrade0 after 1 s (have: ctmgmt0 ctpeer0 ctpeer1 eth1 lo"
        in (tmp_path / "console").read_text()
    )
