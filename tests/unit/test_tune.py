"""The on-host tuning engine against a host tree: what differs, what it writes, what it refuses."""

from __future__ import annotations

import errno
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from colotune.host import tune
from colotune.host.tune import Host

REPO = Path(__file__).resolve().parents[2]
FACTS = REPO / "tests" / "fixtures" / "facts"


def tree(root: Path, files: dict[str, str]) -> Host:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n")
    return Host(root=root)


@pytest.fixture
def host(tmp_path: Path) -> Host:
    return tree(
        tmp_path,
        {
            "sys/devices/system/cpu/online": "0-3",
            **{
                f"sys/devices/system/cpu/cpu{c}/cpufreq/scaling_governor": "powersave"
                for c in range(4)
            },
            "sys/devices/system/cpu/intel_pstate/no_turbo": "0",
            "sys/kernel/mm/transparent_hugepage/enabled": "always [madvise] never",
            "sys/kernel/mm/transparent_hugepage/defrag": "always defer [madvise] never",
            "sys/kernel/mm/ksm/run": "1",
            "proc/sys/kernel/numa_balancing": "1",
            "proc/sys/vm/swappiness": "60",
            "proc/sys/vm/stat_interval": "60",
            "proc/irq/default_smp_affinity": "f",
            "proc/irq/0/smp_affinity_list": "0-3",
            "proc/irq/24/smp_affinity_list": "0-3",
            "proc/irq/25/smp_affinity_list": "0-1",
            "sys/devices/virtual/workqueue/cpumask": "f",
            "sys/devices/system/node/node0/hugepages/hugepages-1048576kB/nr_hugepages": "0",
            "proc/swaps": "Filename\tType\tSize\tUsed\tPriority",
        },
    )


DESIRED: dict[str, Any] = {
    "nic": None,
    "irq_cpus": "0-1",
    "housekeeping_cpus": "0-1",
    "governor": "performance",
    "epp": "performance",
    "turbo": "off",
    "thp": "never",
    "ksm_off": True,
    "swap_off": True,
    "sysctls": {
        "kernel.numa_balancing": {"value": "0", "control": "TUN-016", "at_least": False},
        "vm.swappiness": {"value": "0", "control": "TUN-019", "at_least": False},
        "vm.stat_interval": {"value": "10", "control": "TUN-022", "at_least": True},
        "kernel.absent": {"value": "1", "control": "TUN-016", "at_least": False},
    },
    "coalescing": {},
    "hugepages_runtime": {"0": 2},
}


def test_changes_list_every_difference(host: Host) -> None:
    found = {(c.control, c.target): (c.before, c.after) for c in tune.changes(host, DESIRED)}
    assert found[("TUN-007", "sys/devices/system/cpu/cpu3/cpufreq/scaling_governor")] == (
        "powersave",
        "performance",
    )
    assert found[("TUN-009", "sys/devices/system/cpu/intel_pstate/no_turbo")] == ("0", "1")
    assert found[("TUN-017", "sys/kernel/mm/transparent_hugepage/enabled")] == ("madvise", "never")
    assert found[("TUN-018", "sys/kernel/mm/ksm/run")] == ("1", "0")
    assert found[("TUN-016", "proc/sys/kernel/numa_balancing")] == ("1", "0")
    assert found[("TUN-013", "proc/irq/default_smp_affinity")] == ("f", "3")
    assert found[("TUN-011", "proc/irq/24/smp_affinity_list")] == ("0-3", "0-1")
    assert ("TUN-011", "proc/irq/25/smp_affinity_list") not in found  # already right
    assert ("TUN-011", "proc/irq/0/smp_affinity_list") not in found  # the timer stays
    assert found[("TUN-023", "sys/devices/virtual/workqueue/cpumask")] == ("f", "3")
    assert found[
        ("TUN-006", "sys/devices/system/node/node0/hugepages/hugepages-1048576kB/" "nr_hugepages")
    ] == ("0", "2")
    assert not any("absent" in target for _, target in found)  # a sysctl this kernel lacks
    assert found[("TUN-019", "proc/sys/vm/swappiness")] == ("60", "0")
    # vm.stat_interval: at least 10, so 60 stays (TUN-022 accepts it too)
    assert not any("stat_interval" in target for _, target in found)


def test_apply_then_nothing_left(host: Host) -> None:
    done = tune.apply(host, tune.changes(host, DESIRED), allow={"live"})
    assert {c.status for c in done} == {"done"}
    assert tune.changes(host, DESIRED) == []
    assert host.read("proc/irq/24/smp_affinity_list") == "0-1"


def test_no_cpufreq_means_nothing_to_do(tmp_path: Path) -> None:
    guest = tree(
        tmp_path, {"sys/devices/system/cpu/online": "0-1", "proc/irq/default_smp_affinity": "3"}
    )
    assert tune.changes(guest, {**DESIRED, "irq_cpus": "0-1", "housekeeping_cpus": "0-1"}) == []


def test_refused_outside_allowed_risk(host: Host) -> None:
    pending = [tune.Change("TUN-015", "disruptive", "NIC eth1: rx-usecs", "3", "0")]
    assert tune.apply(host, pending, allow={"live"})[0].status == "refused"


def test_managed_irq_is_not_a_failure(host: Host, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(rel: str, value: str) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(host, "write", refuse)
    change = tune.Change("TUN-011", "live", "proc/irq/24/smp_affinity_list", "0-3", "0-1")
    (done,) = tune.apply(host, [change], allow={"live"})
    assert done.status == "not_applicable"
    assert "the kernel refuses to move this IRQ" in done.detail


def test_a_refused_irq_is_remembered_so_that_a_check_does_not_report_it(
    host: Host, monkeypatch: pytest.MonkeyPatch
) -> None:
    desired = {**DESIRED, "irq_cpus": "0-1"}
    pending = [c for c in tune.changes(host, desired) if c.control == "TUN-011"]
    assert [c.target for c in pending] == ["proc/irq/24/smp_affinity_list"]
    assert pending[0].status == "pending"  # nothing known yet: a check must report it

    real_write = host.write

    def refuse_irq_24(rel: str, value: str) -> None:
        if rel == "proc/irq/24/smp_affinity_list":
            raise OSError(errno.EIO, "Input/output error")
        real_write(rel, value)

    monkeypatch.setattr(host, "write", refuse_irq_24)
    tune.apply(host, tune.changes(host, desired), allow={"live", "disruptive"})
    assert tune.refused_irqs(host) == {"24"}
    (again,) = [c for c in tune.changes(host, desired) if c.control == "TUN-011"]
    assert again.status == "not_applicable"  # check mode counts only pending changes
    assert "refuses to move" in again.detail

    # The same number for another device (a driver reloaded since) is judged afresh.
    (host.root / "sys/kernel/irq/24").mkdir(parents=True)
    (host.root / "sys/kernel/irq/24/actions").write_text("ens1-rx-0\n")
    (fresh,) = [c for c in tune.changes(host, desired) if c.control == "TUN-011"]
    assert fresh.status == "pending"


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        (
            "this-machine/ethtool-c-eth0.txt",
            {
                "adaptive-rx": "off",
                "rx-usecs": "0",
                "rx-frames": "1",
                "tx-usecs": "0",
                "tx-frames": "1",
            },
        ),
        (
            "public/mellanox-ethtool-c.txt",
            {
                "adaptive-rx": "on",
                "adaptive-tx": "off",
                "rx-usecs": "16",
                "rx-frames": "88",
                "tx-usecs": "0",
                "tx-frames": "0",
            },
        ),
    ],
)
def test_coalesce_settings_recorded(fixture: str, expected: dict[str, str]) -> None:
    assert tune.coalesce_settings((FACTS / fixture).read_text()) == expected


def load_grub_module() -> Any:
    spec = importlib.util.spec_from_file_location(
        "colotune_grub", REPO / "roles/tuning/library/colotune_grub.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_grub_strips_earlier_copies_of_owned_arguments() -> None:
    grub = load_grub_module()
    text = (
        'GRUB_DEFAULT=0\nGRUB_CMDLINE_LINUX_DEFAULT="quiet isolcpus=1-3 nohz_full=1-3"\n'
        "GRUB_CMDLINE_LINUX='console=ttyS0 hugepages=4'\n"
    )
    out = grub.strip_owned(text, {"isolcpus", "nohz_full", "hugepages"})
    assert out == (
        'GRUB_DEFAULT=0\nGRUB_CMDLINE_LINUX_DEFAULT="quiet"\n'
        "GRUB_CMDLINE_LINUX='console=ttyS0'\n"
    )


def test_irqs_and_unbound_work_never_move_onto_cpus_the_running_kernel_isolates(
    host: Host,
) -> None:
    # A new plan (IRQs and housekeeping on 0-3) whose reboot is still pending: the
    # running kernel isolates 2-3, so only 0-1 are safe targets until then.
    (host.root / "sys/devices/system/cpu/isolated").write_text("2-3\n")
    desired = {**DESIRED, "irq_cpus": "0-3", "housekeeping_cpus": "0-3"}
    targets = {c.target: c.after for c in tune.changes(host, desired)}
    assert targets["proc/irq/24/smp_affinity_list"] == "0-1"
    assert "proc/irq/25/smp_affinity_list" not in targets  # already on 0-1
    assert targets["proc/irq/default_smp_affinity"] == "3"
    assert targets["sys/devices/virtual/workqueue/cpumask"] == "3"
    # Nothing safe to move to: IRQs stay where they are.
    (host.root / "sys/devices/system/cpu/isolated").write_text("0-3\n")
    assert not [c for c in tune.changes(host, desired) if c.control in ("TUN-011", "TUN-013")]


def test_tickless_cpus_of_the_running_kernel_count_as_isolated_too(host: Host) -> None:
    # nohz_full without isolcpus (or a kernel that dropped isolcpus): the tick-free CPUs are
    # the running kernel's isolated ones, as the collector and the audit count them.
    (host.root / "sys/devices/system/cpu/isolated").write_text("\n")
    (host.root / "sys/devices/system/cpu/nohz_full").write_text("2-3\n")
    desired = {**DESIRED, "irq_cpus": "0-3", "housekeeping_cpus": "0-3"}
    targets = {c.target: c.after for c in tune.changes(host, desired)}
    assert targets["proc/irq/24/smp_affinity_list"] == "0-1"
    assert targets["proc/irq/default_smp_affinity"] == "3"
    # a kernel booted without nohz_full shows "(null)": nothing is isolated
    (host.root / "sys/devices/system/cpu/nohz_full").write_text("(null)\n")
    targets = {c.target: c.after for c in tune.changes(host, desired)}
    assert "proc/irq/24/smp_affinity_list" not in targets  # 0-3 is where it may be


def test_per_node_kernel_threads_move_to_their_nodes_housekeeping_cpus(
    host: Host, monkeypatch: pytest.MonkeyPatch
) -> None:
    # kswapd1/kcompactd1 as the kernel binds them on a 2-node host (node 1 = CPUs 2-3,
    # isolated 3); a user process that only borrows the name is left alone.
    for pid, name, ppid, cpus in (
        ("148", "kswapd1", "2", "2-3"),
        ("133", "kcompactd1", "2", "2-3"),
        ("149", "kswapd0", "2", "0-1"),
        ("900", "kswapd9", "1", "0-3"),
    ):
        (host.root / "proc" / pid).mkdir(parents=True)
        (host.root / "proc" / pid / "comm").write_text(name + "\n")
        (host.root / "proc" / pid / "status").write_text(
            f"Name:\t{name}\nPPid:\t{ppid}\nCpus_allowed_list:\t{cpus}\n"
        )
    desired = {**DESIRED, "housekeeping_cpus": "0-2", "isolated_cpus": "3"}
    moves = {c.target: c.after for c in tune.changes(host, desired) if c.target.startswith("task")}
    assert moves == {"task 148 kswapd1": "2", "task 133 kcompactd1": "2"}

    done: dict[int, set[int]] = {}
    monkeypatch.setattr(host, "set_affinity", lambda pid, cpus: done.update({pid: cpus}))
    tune.apply(host, tune.changes(host, desired), allow={"live"})
    assert done == {148: {2}, 133: {2}}

    def gone(pid: int, cpus: set[int]) -> None:
        raise ProcessLookupError(errno.ESRCH, "No such process")

    monkeypatch.setattr(host, "set_affinity", gone)
    changes = tune.apply(host, tune.changes(host, desired), allow={"live"})
    assert {c.status for c in changes if c.target.startswith("task")} == {"not_applicable"}


def _cpufreq_host(root: Path, floor: str = "1200000") -> Host:
    """Two CPUs under intel_pstate as a Xeon Gold 5122 shows them (1.2-3.7 GHz)."""
    files = {"sys/devices/system/cpu/online": "0-1", "proc/irq/default_smp_affinity": "3"}
    for cpu in (0, 1):
        freq = f"sys/devices/system/cpu/cpu{cpu}/cpufreq"
        files |= {
            f"{freq}/cpuinfo_min_freq": "1200000",
            f"{freq}/cpuinfo_max_freq": "3700000",
            f"{freq}/scaling_min_freq": floor,
            f"{freq}/scaling_max_freq": "3700000",
        }
    return tree(root, files)


BARE: dict[str, Any] = {"irq_cpus": "0-1", "housekeeping_cpus": "0-1"}


@pytest.mark.parametrize(("floor", "want"), [("max", "3700000"), (3000000, "3000000")])
def test_the_frequency_floor_is_pinned_then_left_alone(
    tmp_path: Path, floor: str | int, want: str
) -> None:
    host = _cpufreq_host(tmp_path)
    found = tune.changes(host, {**BARE, "min_freq": floor})
    assert [(c.control, c.target, c.before, c.after) for c in found] == [
        ("TUN-027", f"sys/devices/system/cpu/cpu{cpu}/cpufreq/scaling_min_freq", "1200000", want)
        for cpu in (0, 1)
    ]
    assert {c.status for c in tune.apply(host, found, allow={"live"})} == {"done"}
    assert tune.changes(host, {**BARE, "min_freq": floor}) == []
    assert tune.changes(host, {**BARE, "min_freq": "unchanged"}) == []


def test_a_frequency_floor_the_cpu_cannot_take_is_refused_before_anything_changes(
    tmp_path: Path,
) -> None:
    host = _cpufreq_host(tmp_path)
    with pytest.raises(tune.UnfitError, match=r"CPU 0 allows now: 1200000-3700000 kHz"):
        tune.changes(host, {**BARE, "min_freq": 4500000, "thp": "never"})
    assert host.read("sys/devices/system/cpu/cpu0/cpufreq/scaling_min_freq") == "1200000"


@pytest.mark.parametrize(
    ("update_grub", "entries", "said"),
    [
        ("/usr/sbin/update-grub", [], None),
        (
            None,
            ["/boot/loader/entries/a.conf", "/boot/loader/entries/b.conf"],
            "Specification entries (2 in",
        ),
        (None, [], "has no update-grub in PATH"),
    ],
)
def test_a_boot_loader_colotune_cannot_write_is_named_before_anything_changes(
    update_grub: str | None, entries: list[str], said: str | None
) -> None:
    problem = load_grub_module().boot_loader_problem(update_grub, entries)
    if said is None:
        assert problem is None
        return
    assert problem is not None
    assert said in problem
    assert "Nothing was changed" in problem
    assert "tuning_cmdline: check" in problem


def run_grub_module(tmp_path: Path, path_dirs: list[Path], **args: Any) -> dict[str, Any]:
    """colotune_grub run as Ansible runs a module: its arguments as JSON on the command line."""
    params = tmp_path / "args.json"
    params.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": args}))
    done = subprocess.run(
        [sys.executable, str(REPO / "roles/tuning/library/colotune_grub.py"), str(params)],
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": os.pathsep.join(map(str, path_dirs))},
        check=False,
    )
    result: dict[str, Any] = json.loads(done.stdout)
    return result


@pytest.mark.parametrize("has_update_grub", [True, False])
def test_the_boot_loader_probe_reads_and_writes_no_grub_file(
    tmp_path: Path, has_update_grub: bool
) -> None:
    system_tool = [
        d for d in ("/sbin", "/usr/sbin", "/usr/local/sbin") if Path(d, "update-grub").exists()
    ]
    if system_tool and not has_update_grub:  # the module also looks there, whatever PATH says
        pytest.skip(f"this machine has update-grub in {system_tool[0]}")
    bindir = tmp_path / "bin"
    bindir.mkdir()
    if has_update_grub:  # only looked up, never run, by the probe
        tool = bindir / "update-grub"
        tool.write_text("#!/bin/sh\nexit 1\n")
        tool.chmod(0o755)
    grub_default = tmp_path / "grub"
    grub_default.write_text('GRUB_CMDLINE_LINUX="isolcpus=1"\n')  # a real run would strip it
    dropin = tmp_path / "grub.d" / "colotune.cfg"
    result = run_grub_module(
        tmp_path,
        [bindir, Path(sys.executable).parent],
        args=["isolcpus=2-3"],
        owned_keys=["isolcpus"],
        probe=True,
        grub_default=str(grub_default),
        dropin=str(dropin),
    )
    assert grub_default.read_text() == 'GRUB_CMDLINE_LINUX="isolcpus=1"\n'
    assert not dropin.parent.exists()
    assert not result.get("changed")
    if has_update_grub:
        assert not result.get("failed")
        assert "diff" not in result
    else:
        assert result["failed"] is True
        assert "has no update-grub in PATH" in result["msg"]


def _module(host: Host, capsys: pytest.CaptureFixture[str], **params: Any) -> dict[str, Any]:
    assert tune.module_main(json.dumps(params), host=host) == 0
    answer: dict[str, Any] = json.loads(capsys.readouterr().out)
    return answer


def test_the_tuning_action_in_check_mode_refuses_what_market_hours_forbid_and_writes_nothing(
    host: Host, capsys: pytest.CaptureFixture[str]
) -> None:
    answer = _module(host, capsys, desired=DESIRED, allow=["live"], check_mode=True)
    assert answer["changed"] is True
    assert (
        "TUN-017 sys/kernel/mm/transparent_hugepage/enabled = madvise" in (answer["diff"]["before"])
    )
    assert host.read("sys/kernel/mm/transparent_hugepage/enabled") == "always [madvise] never"
    disruptive = [c for c in tune.changes(host, DESIRED) if c.risk == "disruptive"]
    assert len(answer["refused"]) == len(disruptive)
    assert all("change refused in market hours" in line for line in answer["refused"])


def test_the_tuning_action_applies_and_a_second_run_changes_nothing(
    host: Host, capsys: pytest.CaptureFixture[str]
) -> None:
    first = _module(host, capsys, desired=DESIRED, allow=["live", "disruptive"])
    assert first["changed"] is True and "failed" not in first, first
    assert host.read("proc/sys/vm/swappiness") == "0"
    again = tune.changes(host, DESIRED)
    assert [c.line() for c in again if c.status == "pending"] == []


def test_the_tuning_action_names_a_state_the_host_cannot_take_and_changes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    host = _cpufreq_host(tmp_path)
    desired = {**BARE, "min_freq": 4500000, "thp": "never"}
    answer = _module(host, capsys, desired=desired, allow=["live", "disruptive"])
    assert answer["failed"] is True and answer["changed"] is False
    assert "CPU 0 allows now: 1200000-3700000 kHz" in answer["msg"]
    assert answer["msg"].endswith("; nothing changed")
    assert host.read("sys/devices/system/cpu/cpu0/cpufreq/scaling_min_freq") == "1200000"


def test_the_nic_irqs_the_role_places_are_those_the_audit_judges(tmp_path: Path) -> None:
    """The MSI-X vectors of the PCI function behind a virtio netdev, a legacy INTx line, and
    queue vectors named after the interface, as topology.nic_irqs counts them for TUN-012."""
    pci = "sys/devices/pci0000:00"
    host = tree(
        tmp_path,
        {
            f"{pci}/0000:00:03.0/numa_node": "0",
            f"{pci}/0000:00:03.0/msi_irqs/24": "msix",
            f"{pci}/0000:00:03.0/msi_irqs/25": "msix",
            f"{pci}/0000:00:03.0/virtio0/features": "1",
            f"{pci}/0000:00:04.0/numa_node": "0",
            f"{pci}/0000:00:04.0/irq": "10",
            f"{pci}/0000:00:05.0/numa_node": "0",
            f"{pci}/0000:00:05.0/msi_irqs/40": "msix",
            "proc/interrupts": "           CPU0       CPU1\n"
            "  24:  1  2  PCI-MSIX-0000:00:03.0  0-edge  virtio0-config\n"
            "  30:  5  6  IR-PCI-MSI  1-edge  eth2-TxRx-0\n"
            "  31:  5  6  IR-PCI-MSI  2-edge  eth20-TxRx-0\n"
            " NMI:  0  0  Non-maskable interrupts",
        },
    )
    net = tmp_path / "sys/class/net"
    for name, device in (("eth0", "0000:00:03.0/virtio0"), ("eth1", "0000:00:04.0")):
        (net / name).mkdir(parents=True)
        os.symlink(f"../../../devices/pci0000:00/{device}", net / name / "device")
    (net / "eth2").mkdir()
    os.symlink("../../../devices/pci0000:00/0000:00:05.0", net / "eth2" / "device")

    assert tune.nic_irqs(host, "eth0") == {24, 25}
    assert tune.nic_irqs(host, "eth1") == {10}
    assert tune.nic_irqs(host, "eth2") == {30, 40}
