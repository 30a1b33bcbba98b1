"""Lab state without VMs: empty lab, unknown hosts, stale PID files, down cleans up."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from colotune.errors import ColotuneError
from colotune.lab import runner


def _lab(tmp_path: Path) -> runner.Lab:
    return runner.Lab(
        state=tmp_path / "state",
        cache=tmp_path / "cache",
        inventory=tmp_path / "inventory" / "lab.yml",
        log=lambda _msg: None,
    )


def test_empty_lab_has_no_hosts_and_says_how_to_start_one(tmp_path: Path) -> None:
    lab = _lab(tmp_path)
    assert lab.hosts() == {}
    assert lab.status() == []
    with pytest.raises(ColotuneError, match="lab up"):
        lab.ssh_key()
    with pytest.raises(ColotuneError, match="no host 'lab9'"):
        lab.host("lab9")


def test_unknown_host_names_the_hosts_that_exist(tmp_path: Path) -> None:
    lab = _lab(tmp_path)
    host = runner.HostState(
        name="lab1", index=1, preset="1s4c", ssh_port=40000, trade_mac="52:54:00:c0:17:11"
    )
    lab._save_hosts({"lab1": host}, ssh_key=str(tmp_path / "key"))
    with pytest.raises(ColotuneError, match="lab hosts: lab1"):
        lab.ssh_argv("lab2")
    argv = lab.ssh_argv("lab1", "uname -r")
    assert argv[0] == "ssh"
    assert argv[-2:] == ["root@127.0.0.1", "uname -r"]
    assert argv[argv.index("-p") : argv.index("-p") + 2] == ["-p", "40000"]
    status = lab.status()
    assert [(s.name, s.running, s.pid) for s in status] == [("lab1", False, None)]


def test_a_pid_that_is_not_that_vms_qemu_is_never_treated_as_it(tmp_path: Path) -> None:
    assert not runner._pid_is_vm(os.getpid(), "lab1")
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", "lab1"])
    try:
        assert not runner._pid_is_vm(proc.pid, "lab1")  # alive, named lab1, but not qemu
    finally:
        proc.kill()
        proc.wait()
    assert not runner._pid_is_vm(proc.pid, "lab1")


def test_down_removes_state_and_inventory_and_leaves_foreign_pids_alone(tmp_path: Path) -> None:
    lab = _lab(tmp_path)
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        host = runner.HostState(
            name="lab1", index=1, preset="1s4c", ssh_port=40000, trade_mac="m", pid=proc.pid
        )
        lab._save_hosts({"lab1": host}, ssh_key=str(tmp_path / "key"))
        (lab.state / "lab1").mkdir()
        (lab.state / "lab1" / "qemu.pid").write_text(f"{proc.pid}\n")
        lab.inventory.parent.mkdir(parents=True)
        lab.inventory.write_text("all: {}\n")
        assert lab.down() == []
        assert proc.poll() is None  # not a qemu: not ours to stop
        assert not lab.inventory.exists()
        assert not (lab.state / "lab1").exists()
        assert lab.hosts() == {}
    finally:
        proc.kill()
        proc.wait()


def test_max_parallel_boots_is_between_one_and_two() -> None:
    assert 1 <= runner.max_parallel_boots() <= 2


def test_a_boot_counts_as_progressing_while_its_console_moves_or_shows_login(
    tmp_path: Path,
) -> None:
    serial = tmp_path / "serial.log"
    assert not runner.console_progressing(serial)  # no console yet: nothing to wait for
    serial.write_text("[    3.1] Run /init as init process\n")
    now = serial.stat().st_mtime
    assert runner.console_progressing(serial, now=now + 10)
    assert not runner.console_progressing(serial, now=now + runner.CONSOLE_QUIET_LIMIT + 1)
    serial.write_text("Debian GNU/Linux 12 lab1 ttyS0\n\nlab1 login: ")
    now = serial.stat().st_mtime
    assert runner.console_progressing(serial, now=now + runner.CONSOLE_QUIET_LIMIT + 1)


def _bind_ssh_listener(control_dir: Path) -> None:
    """Bind a Unix socket where ssh binds its ControlMaster listener: ControlPath=DIR/%C
    (40 hex characters) plus a dot and 16 random characters."""
    control_dir.mkdir(parents=True, exist_ok=True)
    path = control_dir / ("c" * 40 + "." + "r" * 16)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.bind(str(path))
    path.unlink()


def test_a_deep_state_dir_still_gets_an_ssh_control_socket(tmp_path: Path) -> None:
    """pytest-of-root/pytest-107/lab0/lab-2s4c2t/ssh was one byte too long for the socket
    ssh binds: every ssh to the lab failed with "too long for Unix domain socket"."""
    deep = tmp_path / ("d" * 60)
    lab = runner.Lab(state=deep / "state", cache=tmp_path / "cache", log=lambda _msg: None)
    with pytest.raises(OSError, match="too long"):  # where the control sockets used to go
        _bind_ssh_listener(deep / "state" / "ssh")
    control = lab._make_control_dir()
    assert control != deep / "state" / "ssh"
    assert control.stat().st_mode & 0o777 == 0o700
    _bind_ssh_listener(control)
    # the same state dir always maps to the same directory, another one to another
    assert lab.control_dir == control
    other = runner.Lab(state=deep / "other", cache=tmp_path / "cache", log=lambda _msg: None)
    assert other.control_dir != control
    lab.down()
    assert not control.exists()


def test_a_short_state_dir_keeps_its_control_sockets_inside(tmp_path: Path) -> None:
    short = Path("/tmp") / f"ct-{os.getpid()}"
    try:
        lab = runner.Lab(state=short, cache=tmp_path / "cache", log=lambda _msg: None)
        assert lab._make_control_dir() == short / "ssh"
        _bind_ssh_listener(short / "ssh")
    finally:
        shutil.rmtree(short, ignore_errors=True)
