"""The bundled collector run for real on this machine (python3 only, no colotune installed),
and the connection settings it is shipped with."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
from pathlib import Path

import pytest
from host_run import PYTHON, run_program

from colotune.facts import (
    CollectError,
    Snapshot,
    SnapshotError,
    collector_command,
    collector_script,
    remote,
)
from colotune.host import collector, cpulist, topology

FACTS = Path(__file__).resolve().parents[1] / "fixtures" / "facts"
XEON = Path(__file__).resolve().parents[1] / "fixtures" / "topology" / "xeon-gold-5122-2s.tar.gz"


def run_script(*args: str, cwd: Path) -> dict:
    done = run_program(collector_script(), *args, cwd=cwd)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return run_script(cwd=tmp_path_factory.mktemp("empty"))


def test_snapshot_of_this_machine(live: dict) -> None:
    snap = Snapshot(live)
    assert live["format"] == 1
    assert snap.online_cpus == cpulist.parse(Path("/sys/devices/system/cpu/online").read_text())
    assert snap.cmdline == Path("/proc/cmdline").read_text().split()
    here = topology.read(topology.SysfsTree("/"))
    assert sorted(snap.topology.cpus) == sorted(here.cpus)
    assert sorted(snap.topology.nics) == sorted(here.nics)
    assert snap.interrupts["cpus"] == sorted(snap.online_cpus)
    assert set(snap.irqs)  # every IRQ's affinity was read


def test_collector_pins_itself_and_measures_its_cost(live: dict) -> None:
    info = live["collector"]
    online = cpulist.parse(Path("/sys/devices/system/cpu/online").read_text())
    isolated = cpulist.parse(Path("/sys/devices/system/cpu/isolated").read_text())
    assert cpulist.parse(info["housekeeping"]) == online - isolated
    assert info["pinned"] is True
    assert cpulist.parse(info["affinity"]) <= online - isolated
    assert info["cpu_ms"] > 0
    assert info["cpu_ms"] >= info["cpu_ms_children"]


def test_collector_lists_tasks_on_watched_cpus(tmp_path: Path) -> None:
    raw = run_script("--watch-cpus", "0", cwd=tmp_path)
    tasks = raw["tasks"]
    assert tasks["watched"] == "0"
    assert tasks["list"], "some task is always allowed on CPU 0"
    assert all(0 in cpulist.parse(t["cpus"]) for t in tasks["list"])
    assert sum(tasks["groups"].values()) == tasks["total"]
    # Per-CPU kernel threads (migration/0, ...) are ones nobody may move; PID 1 is not.
    assert any(t["kthread"] and t["fixed"] for t in tasks["list"])
    assert not next(t for t in tasks["list"] if t["pid"] == 1)["fixed"]


@pytest.mark.parametrize(
    ("fixture", "fixed"),
    [("proc-3-stat-rcu_gp.txt", True), ("proc-1-stat-systemd.txt", False)],
)
def test_a_task_the_kernel_lets_nobody_move_is_told_from_its_stat_flags(
    tmp_path: Path, fixture: str, fixed: bool
) -> None:
    stat = tmp_path / "proc" / "7" / "task" / "7" / "stat"
    stat.parent.mkdir(parents=True)
    shutil.copy(FACTS / "lab-vm" / fixture, stat)
    assert collector._no_setaffinity(collector.Reader(str(tmp_path)), "7", "7") is fixed


def test_collector_counts_interrupts_over_a_window(tmp_path: Path) -> None:
    raw = run_script("--irq-window", "0.2", cwd=tmp_path)
    window = raw["interrupt_window"]
    assert window["seconds"] >= 0.2
    assert window["before"] and window["after"]


def test_collector_imports_nothing_it_does_not_use(tmp_path: Path) -> None:
    # Its budget is 50 ms of host CPU, and importing dataclasses, pathlib or the tarball
    # recorder's modules would spend a fifth of it (benchmarks/audit_fanout.py measures).
    done = run_program(
        collector_script(), "--watch-cpus", "0", cwd=tmp_path, python=f"{PYTHON} -X importtime"
    )
    assert done.returncode == 0, done.stderr
    imported = {
        line.rsplit("|", 1)[1].strip()
        for line in done.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }
    assert {"json", "subprocess"} <= imported  # the parse of -X importtime works
    assert not imported & {"dataclasses", "inspect", "pathlib", "tarfile", "tempfile"}


def test_collector_reads_a_recorded_tree(tmp_path: Path) -> None:
    with topology.open_tree(XEON) as tree:
        raw = run_script("--root", str(tree.root), cwd=tmp_path)
    snap = Snapshot(raw)
    recorded = topology.load(XEON)
    assert sorted(snap.topology.cpus) == sorted(recorded.cpus)
    assert snap.topology.nics["ens1f0np0"].numa_node == 1


def test_collector_reads_who_may_use_each_hugetlbfs_mount(tmp_path: Path) -> None:
    (tmp_path / "proc").mkdir()
    (tmp_path / "proc" / "mounts").write_text(
        "sysfs /sys sysfs rw,nosuid 0 0\n"
        "hugetlbfs /dev/hugepages hugetlbfs rw,relatime,pagesize=2M 0 0\n"
        "hugetlbfs /dev/huge\\040pages1G hugetlbfs rw,relatime,mode=1777,pagesize=1024M 0 0\n"
    )
    (tmp_path / "dev" / "huge pages1G").mkdir(parents=True)
    (tmp_path / "dev" / "huge pages1G").chmod(0o1770)  # chmod after mounting: not in options
    found = collector.read_hugetlbfs(collector.Reader(str(tmp_path)))
    assert found["/dev/hugepages"] == {"error": "No such file or directory"}
    mount = found["/dev/huge pages1G"]
    assert mount["mode"] == "1770"
    assert mount["options"] == "rw,relatime,mode=1777,pagesize=1024M"
    assert mount["gid"] == (tmp_path / "dev").stat().st_gid
    assert set(found) == {"/dev/hugepages", "/dev/huge pages1G"}  # sysfs is not hugetlbfs


def test_collector_rejects_unknown_options(tmp_path: Path) -> None:
    done = run_program(collector_script(), "--bogus", "1", cwd=tmp_path)
    assert done.returncode != 0
    assert "unknown option" in done.stderr


def test_collector_command_is_one_shell_command(tmp_path: Path) -> None:
    command = collector_command(["--watch-cpus", "0"])
    assert command.startswith("python3 -S -c ")  # no site: its imports cost host CPU
    assert len(command) < 64 * 1024  # fits one argument of an SSH exec request comfortably
    done = subprocess.run(
        ["sh", "-c", command], capture_output=True, text=True, cwd=tmp_path, check=True
    )
    assert json.loads(done.stdout)["tasks"]["watched"] == "0"


def test_not_a_snapshot() -> None:
    with pytest.raises(SnapshotError, match="not a colotune snapshot"):
        Snapshot({"hello": 1})


def test_connection_from_ansible_variables() -> None:
    conn = remote.connection(
        {
            "inventory_hostname": "ny4-trade01",
            "ansible_host": "10.1.2.3",
            "ansible_port": 2222,
            "ansible_user": "ops",
            "ansible_ssh_private_key_file": "~/.ssh/ops",
            "ansible_ssh_common_args": "-o StrictHostKeyChecking=no "
            "-o 'UserKnownHostsFile /dev/null'",
        }
    )
    assert (conn.name, conn.hostname, conn.port, conn.user) == (
        "ny4-trade01",
        "10.1.2.3",
        2222,
        "ops",
    )
    assert conn.options == {"StrictHostKeyChecking": "no", "UserKnownHostsFile": "/dev/null"}
    assert conn.become is False
    assert remote.connection({"ansible_host": "h", "ansible_become": True}).become is True
    argv = remote.ssh_argv(conn, timeout=5)
    assert argv[-1] == "10.1.2.3"
    assert argv[argv.index("-p") : argv.index("-p") + 2] == ["-p", "2222"]
    assert "BatchMode=yes" in argv


@pytest.mark.parametrize(
    ("rc", "stderr", "message"),
    [
        (255, "ssh: connect to host 10.9.9.9 port 22: Connection refused", "unreachable over SSH"),
        (127, "sh: 1: python3: not found", "no python3 on the host"),
        (1, "Traceback ...\nOSError: boom", "the collector failed (OSError: boom)"),
    ],
)
def test_decode_failures(rc: int, stderr: str, message: str) -> None:
    with pytest.raises(CollectError, match=message.replace("(", r"\(").replace(")", r"\)")):
        remote.decode("h1", "", stderr, rc)


def test_decode_garbage() -> None:
    with pytest.raises(CollectError, match="printed no JSON snapshot"):
        remote.decode("h1", "Welcome to host!\n", "", 0)


def test_collect_unreachable_host_fails_within_timeout() -> None:
    with socket.socket() as probe:  # a loopback port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(CollectError, match="unreachable"):
        remote.collect(
            {
                "inventory_hostname": "gone",
                "ansible_host": "127.0.0.1",
                "ansible_port": port,
                "ansible_ssh_common_args": "-o StrictHostKeyChecking=no",
            },
            timeout=5,
        )
