"""roles/tuning on a real kernel: the tuning play, the reboot, the plan in effect, idempotence,
check mode, drift, the market-hours guard and a link flap.

One 2s4c2t VM (2 sockets x 4 cores x 2 threads, two NUMA nodes, the trading NIC
on node 1) is tuned once for the module; the tests then read and disturb it in
order. The audit and validators proofs add roles/ptp (ptp4l as the trading NIC's
grandmaster), so that a stopped ptp4l is drift they must name too. Wall times and
changed counts are printed for the issue notes (pytest -s).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from colotune.host import cpulist
from colotune.ptp import pmc

pytestmark = pytest.mark.vm

REPO = Path(__file__).resolve().parents[2]
OUTSIDE = "2026-11-22T12:00:00-05:00"  # a Sunday: no session
INSIDE = "2026-11-23T10:00:00-05:00"  # a Monday, 10:00 New York
# The tuning play alone (site.yml imports it): under software emulation every task
# costs seconds, so the other roles' tasks are left to their own tests.
TUNING = "playbooks/tuning.yml"


@dataclass
class Tuned:
    vm: Any  # conftest.LabVm
    runs: dict[str, Any]  # conftest.PlayRun by name

    def sh(self, command: str) -> str:
        return str(self.vm.run(command)).strip()

    def play(self, playbook: str, *extra: str, name: str | None = None, ok: bool = True) -> Any:
        """`playbook` on the VM (conftest.LabVm.play); asserts it succeeded (or failed, if
        not `ok`) and records it under `name`."""
        run = self.vm.play(playbook, *extra)
        assert (run.rc == 0) == ok, run.output[-6000:]
        if name:
            self.runs[name] = run
            print(f"\n[tuning] {name}: {run.seconds:.1f} s, changed={run.changed}")
        return run


def _changed_tasks(output: str) -> list[str]:
    """The names of the tasks and handlers that reported `changed`, in order."""
    names: list[str] = []
    current = ""
    for line in output.splitlines():
        header = re.match(r"(?:TASK|RUNNING HANDLER) \[(?:tuning : )?(.*)\] \**$", line)
        if header:
            current = header.group(1)
        elif line.startswith("changed: ["):
            names.append(current)
    return names


@pytest.fixture(scope="module")
def tuned(vm_2s4c2t: object) -> Tuned:
    state = Tuned(vm=vm_2s4c2t, runs={})
    state.play(TUNING, "-e", f"colotune_now={OUTSIDE}", name="first run")
    # roles/ptp comes later (with_ptp): the reboot play's gate judges this host without PTP,
    # and its audit verdict must be go.
    state.play(
        "playbooks/reboot.yml",
        "-e",
        f"colotune_now={OUTSIDE}",
        "-e",
        '{"ptp_enabled": false}',
        name="reboot",
    )
    assert "PTP locked and the audit says go" in state.runs["reboot"].words
    return state


def read_plan(tuned: Tuned) -> dict[str, object]:
    return json.loads(tuned.sh("cat /etc/colotune/tuning.json"))  # type: ignore[no-any-return]


def test_the_kernel_shows_the_plan_after_the_reboot(tuned: Tuned) -> None:
    state = read_plan(tuned)
    isolated = cpulist.parse(state["isolated_cpus"])  # type: ignore[arg-type]
    irq_cpus = cpulist.parse(state["irq_cpus"])  # type: ignore[arg-type]
    assert isolated == {10, 11, 12, 13, 14, 15}  # node 1 minus its housekeeping core 8-9
    assert cpulist.parse(tuned.sh("cat /sys/devices/system/cpu/isolated")) == isolated
    assert cpulist.parse(tuned.sh("cat /sys/devices/system/cpu/nohz_full")) == isolated
    cmdline = tuned.sh("cat /proc/cmdline").split()
    for key in ("isolcpus", "nohz_full", "rcu_nocbs", "irqaffinity", "hugepages", "skew_tick"):
        assert sum(1 for w in cmdline if w.split("=", 1)[0] == key) == 1, (key, cmdline)
    pages = {
        node: int(
            tuned.sh(
                f"cat /sys/devices/system/node/node{node}/hugepages/"
                "hugepages-1048576kB/nr_hugepages"
            )
        )
        for node in (0, 1)
    }
    assert pages == {0: 0, 1: 1}
    nic = state["nic"]
    irqs = tuned.sh(f"ls /sys/class/net/{nic}/device/msi_irqs").split()
    assert irqs, "the trading NIC has MSI IRQs"
    for irq in irqs:
        effective = tuned.sh(f"cat /proc/irq/{irq}/effective_affinity_list")
        assert not cpulist.parse(effective) & isolated, (irq, effective)
        assert cpulist.parse(effective) <= irq_cpus
    assert "[never]" in tuned.sh("cat /sys/kernel/mm/transparent_hugepage/enabled")
    assert tuned.sh("cat /proc/sys/kernel/numa_balancing") == "0"
    assert tuned.sh("tail -n +2 /proc/swaps") == ""
    governors = tuned.sh("cat /sys/devices/system/cpu/cpu[0-9]*/cpufreq/scaling_governor | sort -u")
    assert governors == "performance"  # acpi-cpufreq, from the lab's P-state table
    assert tuned.sh("systemctl is-active colotune-tune.service") == "active"


def test_a_second_run_changes_nothing(tuned: Tuned) -> None:
    run = tuned.play(TUNING, "-e", f"colotune_now={OUTSIDE}", name="rerun")
    assert run.changed == 0, run.output[-5000:]


def test_check_diff_on_the_tuned_host_changes_and_reports_nothing(tuned: Tuned) -> None:
    run = tuned.play(TUNING, "-e", f"colotune_now={OUTSIDE}", "--check", "--diff", name="check")
    assert run.changed == 0, run.output[-5000:]
    assert "--- before" not in run.output


@pytest.fixture(scope="module")
def with_ptp(tuned: Tuned) -> Tuned:
    """The tuned VM with roles/ptp applied as well, as site.yml would: ptp4l as the
    grandmaster of the trading NIC (software timestamping, the lab group's setting; the
    lab has no grandmaster for a client to follow), which reaches MASTER on its own."""
    tuned.play("playbooks/ptp.yml", "-e", f"colotune_now={OUTSIDE}", *PTP_VARS, name="ptp")
    nic = read_plan(tuned)["nic"]
    _wait_for_port_state(tuned, str(nic), "MASTER")
    return tuned


# The audit and the validators judge the host as the tuning run and the reboot left it,
# before the tests below move IRQs by hand: the kernel updates an IRQ's effective
# affinity only when it next fires, and the lab NIC's vectors rarely do.
def test_audit_and_validators_say_go_on_the_tuned_host(with_ptp: Tuned, tmp_path: Path) -> None:
    tuned = with_ptp
    inventory = _audit_inventory(tuned, tmp_path / "inventory")
    rc, host, elapsed = _audit(inventory, tmp_path)
    print(f"\n[audit] tuned 2s4c2t: {elapsed:.1f} s, collector {host['collector_cpu_ms']} ms CPU")
    assert host["error"] is None, host["error"]
    assert _failing(host) == set(), [f for f in host["findings"] if f["effective"] == "fail"]
    assert host["verdict"] == "go"
    assert rc == 0
    assert _validators_failing(inventory, tmp_path / "validators.xml") == set()


def test_audit_and_validators_name_exactly_the_drift_injected(
    with_ptp: Tuned, tmp_path: Path
) -> None:
    tuned = with_ptp
    inventory = _audit_inventory(tuned, tmp_path / "inventory")
    nic = read_plan(tuned)["nic"]
    nic_irq = _tx_irq(tuned, nic)
    tuned.sh(
        f"echo schedutil > {GOVERNOR.format(cpu=DRIFT_CPU)}; "
        "echo always > /sys/kernel/mm/transparent_hugepage/enabled; "
        f"echo {DRIFT_CPU} > /proc/irq/{nic_irq}/smp_affinity_list; "
        f"systemd-run --unit=colotune-stray --collect taskset -c {DRIFT_CPU} sleep 3600; "
        f"systemctl stop ptp4l@{nic}.service"
    )
    _fire_tx(tuned, nic)  # the kernel moves the IRQ when it next fires
    assert tuned.sh(f"cat /proc/irq/{nic_irq}/effective_affinity_list") == str(DRIFT_CPU)
    try:
        rc, host, _ = _audit(inventory, tmp_path)
        drift = {
            "TUN-007",  # a CPU's governor
            "TUN-017",  # THP always
            "TUN-011",  # a movable IRQ on an isolated CPU
            "TUN-012",  # a trading NIC IRQ off the plan's IRQ CPUs
            "TUN-024",  # a stray task allowed on an isolated CPU
            "PTP-001",  # ptp4l stopped
            "PTP-003",  # so its port answers no management request
        }
        assert host["verdict"] == "no-go"
        assert rc == 2
        assert _failing(host) == drift, host["findings"]
        assert _validators_failing(inventory, tmp_path / "validators.xml") == drift
    finally:
        tuned.sh(f"systemctl stop colotune-stray || true; systemctl start ptp4l@{nic}.service")
        tuned.sh(
            f"echo performance > {GOVERNOR.format(cpu=DRIFT_CPU)}; "
            "echo never > /sys/kernel/mm/transparent_hugepage/enabled; "
            f"echo {read_plan(tuned)['irq_cpus']} > /proc/irq/{nic_irq}/smp_affinity_list"
        )
        _fire_tx(tuned, nic)


def test_drift_is_reported_by_check_and_fixed_by_a_run(tuned: Tuned) -> None:
    state = read_plan(tuned)
    nic_irq = tuned.sh(f"ls /sys/class/net/{state['nic']}/device/msi_irqs | head -1")
    tuned.sh(
        f"echo schedutil > {GOVERNOR.format(cpu=3)}; "
        "echo always > /sys/kernel/mm/transparent_hugepage/enabled; "
        f"echo 12 > /proc/irq/{nic_irq}/smp_affinity_list; "
        "sysctl -qw kernel.numa_balancing=1; "
        "sed -i 's/ skew_tick=1//' /etc/default/grub.d/colotune.cfg"
    )
    check = tuned.play(
        TUNING, "-e", f"colotune_now={OUTSIDE}", "--check", "--diff", name="check after drift"
    )
    assert f"TUN-007 {GOVERNOR.format(cpu=3)[1:]} = performance" in check.output
    assert "TUN-017 sys/kernel/mm/transparent_hugepage/enabled = never" in check.output
    assert f"TUN-011 proc/irq/{nic_irq}/smp_affinity_list = {state['irq_cpus']}" in check.output
    assert "TUN-016 proc/sys/kernel/numa_balancing = 0" in check.output
    assert "skew_tick=1" in check.output  # the GRUB drop-in's diff
    # exactly these would change: the GRUB drop-in, the runtime state, and the pending
    # reboot that the GRUB change records
    assert _changed_tasks(check.output) == [
        "cmdline | Put the plan's kernel arguments on the GRUB command line, once each (TUN-001)",
        "runtime | Bring governor, THP, KSM, swap, sysctls, IRQs and coalescing to the plan "
        "(TUN-007)",
        "Record a pending reboot",
    ], check.output[-5000:]
    # The fix also pins the frequency floor, which this profile leaves unchanged so far.
    fix = tuned.play(
        TUNING, "-e", f"colotune_now={OUTSIDE}", "-e", "tuning_min_freq=max", name="fix drift"
    )
    assert fix.changed >= 2
    assert tuned.sh(f"cat {GOVERNOR.format(cpu=3)}") == "performance"
    floors = tuned.sh("cat /sys/devices/system/cpu/cpu[0-9]*/cpufreq/scaling_min_freq | sort -u")
    assert floors == tuned.sh("cat /sys/devices/system/cpu/cpu0/cpufreq/scaling_max_freq")
    assert "[never]" in tuned.sh("cat /sys/kernel/mm/transparent_hugepage/enabled")
    assert tuned.sh(f"cat /proc/irq/{nic_irq}/smp_affinity_list") == state["irq_cpus"]
    assert tuned.sh("cat /proc/sys/kernel/numa_balancing") == "0"
    assert " skew_tick=1" in tuned.sh("cat /etc/default/grub.d/colotune.cfg")


def test_a_link_flap_leaves_irq_affinity_and_coalescing_as_planned(tuned: Tuned) -> None:
    state = read_plan(tuned)
    nic = state["nic"]
    irqs = tuned.sh(f"ls /sys/class/net/{nic}/device/msi_irqs").split()
    # Drift the NIC by hand, then flap its link: colotune-tune must put it back.
    tuned.sh(f"ethtool -C {nic} rx-usecs 3 || true")
    for irq in irqs:
        tuned.sh(f"echo 12 > /proc/irq/{irq}/smp_affinity_list || true")
    tuned.sh(f"ip link set {nic} down && ip link set {nic} up")
    deadline = time.monotonic() + 60
    while True:
        coalesce = tuned.sh(f"ethtool -c {nic} | grep '^rx-usecs:'")
        affinities = [tuned.sh(f"cat /proc/irq/{irq}/smp_affinity_list") for irq in irqs]
        if coalesce.split()[-1] == "0" and all(a == state["irq_cpus"] for a in affinities):
            break
        assert time.monotonic() < deadline, (
            coalesce,
            affinities,
            tuned.sh("journalctl -u colotune-tune -n 20"),
        )
        time.sleep(1)


# -- helpers of the audit and validators proofs -------------------------------------------

GOVERNOR = "/sys/devices/system/cpu/cpu{cpu}/cpufreq/scaling_governor"  # acpi-cpufreq (lab)
AUDIT_TIMEOUT = 120.0  # per host: the collector is a python3 run inside an emulated guest
DRIFT_CPU = 12  # an isolated CPU of the plan (10-15)


def _tx_irq(tuned: Tuned, nic: str) -> str:
    """The trading NIC's transmit IRQ (it fires when the VM sends), else its first one."""
    line = tuned.sh(f"grep -m1 ' {nic}-tx' /proc/interrupts || true")
    if line:
        return line.split(":", 1)[0].strip()
    return tuned.sh(f"ls /sys/class/net/{nic}/device/msi_irqs | head -1")


def _fire_tx(tuned: Tuned, nic: str) -> None:
    """Send a few raw frames out of the NIC: without interrupt remapping the kernel applies
    a new affinity to an MSI vector only when it next fires, and a lab NIC with no link
    partner is otherwise silent."""
    frame = "b'\\xff' * 6 + b'\\x02' * 6 + b'\\x88\\xb5' + b'colotune' * 8"
    tuned.sh(
        'python3 -c "import socket, time; s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW); '
        f"s.bind(('{nic}', 0)); [(s.send({frame}), time.sleep(0.05)) for _ in range(5)]\""
    )


PTP_VARS = ("-e", "ptp_role=grandmaster")  # the ptp play's and the audit's host setting


def _audit_inventory(tuned: Tuned, folder: Path) -> Path:
    """The repository's inventory plus the VM's generated file in one folder (the audit
    and testinfra take one inventory), with the ptp play's setting as a host variable."""
    shutil.copytree(REPO / "inventory", folder)
    shutil.copy(tuned.vm.inventory, folder / "lab.yml")  # over a developer's own, if any
    (folder / "host_vars" / "lab1.yml").write_text("---\nptp_role: grandmaster\n")
    return folder


def _wait_for_port_state(tuned: Tuned, nic: str, wanted: str, timeout: float = 120.0) -> None:
    """Poll ptp4l's port state through pmc on the VM until it is `wanted`."""
    command = " ".join(f"'{a}'" for a in pmc.argv(pmc.uds_address(nic), domain=0))
    deadline = time.monotonic() + timeout
    while True:
        sample = pmc.sample(tuned.sh(f"{command} || true"), 0)
        if sample.get("port_state") == wanted:
            return
        assert time.monotonic() < deadline, (sample, tuned.sh(f"journalctl -u ptp4l@{nic} -n 20"))
        time.sleep(2)


def _audit(inventory: Path, out: Path) -> tuple[int, dict[str, Any], float]:
    started = time.monotonic()
    done = subprocess.run(
        [
            str(REPO / ".venv" / "bin" / "colotune"),
            "audit",
            "-i",
            str(inventory),
            "-l",
            "lab1",
            "--json",
            "--timeout",
            str(AUDIT_TIMEOUT),
            "--history",
            str(out / "history.jsonl"),
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        timeout=AUDIT_TIMEOUT + 120,
        check=False,
    )
    elapsed = time.monotonic() - started
    assert done.stdout.strip(), done.stderr[-3000:]
    return done.returncode, json.loads(done.stdout)["hosts"][0], elapsed


def _failing(host: dict[str, Any]) -> set[str]:
    return {f["control"] for f in host["findings"] if f["effective"] == "fail"}


def _validators_failing(inventory: Path, junit: Path) -> set[str]:
    done = subprocess.run(
        [
            str(REPO / ".venv" / "bin" / "pytest"),
            str(REPO / "validators"),
            "--hosts=ansible://lab1",
            f"--ansible-inventory={inventory}",
            f"--junitxml={junit}",
            "-q",
            "-p",
            "no:cacheprovider",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "PATH": f"{REPO / '.venv' / 'bin'}:{os.environ['PATH']}"},
        timeout=600,
        check=False,
    )
    assert junit.exists(), done.stdout[-3000:] + done.stderr[-3000:]
    failing = set()
    for case in ET.parse(junit).getroot().iter("testcase"):
        props = {p.get("name"): p.get("value") for p in case.iter("property")}
        if case.find("failure") is not None or case.find("error") is not None:
            failing.add(str(props.get("control")))
    return failing


def test_a_boot_loader_colotune_cannot_write_stops_the_play_before_anything_changes(
    tuned: Tuned,
) -> None:
    """A RHEL-like boot (BLS entries, no update-grub): the play stops in its preflight,
    names the boot loader and how to go on, and changes nothing; with tuning_cmdline: check
    it runs, leaves GRUB alone and names the plan's arguments."""
    grub_files = "/etc/default/grub /etc/default/grub.d/colotune.cfg"
    before = tuned.sh(f"md5sum {grub_files}")
    thp = "/sys/kernel/mm/transparent_hugepage/enabled"
    tuned.sh(
        f"echo always > {thp}; mv /usr/sbin/update-grub /usr/sbin/update-grub.colotune-test; "
        "mkdir -p /boot/loader/entries; echo 'title test' > /boot/loader/entries/colotune.conf"
    )
    try:
        stopped = tuned.play(TUNING, "-e", f"colotune_now={OUTSIDE}", ok=False)
        assert "Boot Loader Specification entries (1 in" in stopped.words, stopped.output
        assert "Nothing was changed" in stopped.words
        assert "set tuning_cmdline: check" in stopped.words
        assert "[always]" in tuned.sh(f"cat {thp}")  # the runtime step never ran
        checked = tuned.play(
            TUNING,
            "-e",
            f"colotune_now={OUTSIDE}",
            "-e",
            "tuning_cmdline=check",
            name="cmdline check",
        )
        assert "tuning_cmdline is check: put these on the kernel command line" in checked.words
        assert "The running kernel: carries them all" in checked.words
        assert "[never]" in tuned.sh(f"cat {thp}")
        assert tuned.sh(f"md5sum {grub_files}") == before
    finally:
        tuned.sh(
            "mv /usr/sbin/update-grub.colotune-test /usr/sbin/update-grub; "
            "rm -rf /boot/loader/entries; echo never > " + thp
        )


# Inside market hours with a new plan: it leaves that plan waiting for a reboot, so it
# runs after the tests that judge the tuned host.
def test_market_hours_refuse_the_command_line_and_apply_live_settings(tuned: Tuned) -> None:
    grub_before = tuned.sh("cat /etc/default/grub.d/colotune.cfg")
    tuned.sh("echo always > /sys/kernel/mm/transparent_hugepage/enabled")
    run = tuned.play(
        TUNING,
        "-e",
        f"colotune_now={INSIDE}",
        "-e",
        '{"colotune_trading_days": ["mon", "tue", "wed", "thu", "fri"]}',
        "-e",
        "tuning_isolated_cores=2",
        name="inside market hours",
    )
    assert "reboot-class change refused in market hours" in run.words
    assert "inside market hours (colotune_trading_hours session" in run.words
    assert "04:00-20:00 America/New_York" in run.words
    assert tuned.sh("cat /etc/default/grub.d/colotune.cfg") == grub_before
    assert "[never]" in tuned.sh("cat /sys/kernel/mm/transparent_hugepage/enabled")
    # The new plan's housekeeping CPUs 14-15 stay isolated until its reboot: no IRQ of
    # the trading NIC may move there in the meantime.
    isolated = cpulist.parse(tuned.sh("cat /sys/devices/system/cpu/isolated"))
    assert isolated == {10, 11, 12, 13, 14, 15}
    nic = read_plan(tuned)["nic"]
    for irq in tuned.sh(f"ls /sys/class/net/{nic}/device/msi_irqs").split():
        affinity = cpulist.parse(tuned.sh(f"cat /proc/irq/{irq}/smp_affinity_list"))
        assert not affinity & isolated, (irq, affinity)


def test_a_stopped_host_is_an_unreachable_no_go_within_the_timeout(
    tuned: Tuned, tmp_path: Path
) -> None:
    inventory = _audit_inventory(tuned, tmp_path / "inventory")
    lab = tuned.vm.lab
    lab.stop_all()
    rc, host, elapsed = _audit(inventory, tmp_path)
    assert host["verdict"] == "no-go"
    assert "unreachable" in host["error"]
    assert rc == 2
    assert elapsed < AUDIT_TIMEOUT + 30
