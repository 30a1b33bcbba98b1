"""Every TUN control on hand-built snapshots: pass on the tuned host, fail on drift, and
not applicable where the host cannot have the thing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import facts_builder as fb
import pytest

from colotune import checks

Raw = dict[str, Any]
CPU = fb.CPU
PLAN = fb.plan()
ISO = sorted(PLAN.cpus("isolated_cpus"))


def _set(path: str, value: str | None) -> Callable[[Raw], None]:
    def change(raw: Raw) -> None:
        if value is None:
            raw["files"].pop(path, None)
        else:
            raw["files"][path] = value

    return change


def _no_cpufreq_guest(raw: Raw) -> None:
    raw["virtualization"] = "kvm"
    for key in [k for k in raw["files"] if "/cpufreq/" in k or "intel_pstate" in k]:
        del raw["files"][key]


def _cmdline(text: str) -> Callable[[Raw], None]:
    return _set("proc/cmdline", text)


def _irq_on_isolated(raw: Raw) -> None:
    raw["irqs"]["24"] = {"effective": str(ISO[0]), "affinity": str(ISO[0])}


def _managed_irq_on_isolated(raw: Raw) -> None:
    raw["files"]["proc/interrupts"] += "  90:  1  IR-PCI-MSIX-0000:01:00.0 1-edge nvme0q1\n"
    raw["irqs"]["90"] = {"effective": str(ISO[0]), "affinity": str(ISO[0])}


def _nic_irq_elsewhere(raw: Raw) -> None:
    nic_irq = str(fb.topology.from_snapshot(raw["topology"]).nics[fb.NIC].irqs[0])
    raw["irqs"][nic_irq] = {"effective": "0", "affinity": "0"}


def _hugetlbfs(target: str, **changes: Any) -> Callable[[Raw], None]:
    """A hugetlbfs mount point changed (`gone=True`: not mounted)."""

    def change(raw: Raw) -> None:
        if changes.pop("gone", False):
            del raw["hugetlbfs"][target]
        else:
            raw["hugetlbfs"][target].update(changes)

    return change


def _ethtool_c(rc: int | None, out: str, err: str = "") -> Callable[[Raw], None]:
    def change(raw: Raw) -> None:
        raw["nics"][fb.NIC]["c"] = {"argv": [], "rc": rc, "out": out, "err": err}

    return change


def _busy_poll(value: str) -> Callable[[Raw], None]:
    def change(raw: Raw) -> None:
        for name in ("busy_poll", "busy_read"):
            raw["files"][f"proc/sys/net/core/{name}"] = f"{value}\n"

    return change


def _irqbalance(environ: list[str] | None) -> Callable[[Raw], None]:
    def change(raw: Raw) -> None:
        raw["daemons"].append(
            {"pid": 77, "comm": "irqbalance", "cmdline": "/usr/sbin/irqbalance", "environ": environ}
        )

    return change


def _stray_task(raw: Raw) -> None:
    raw["tasks"]["list"].append(
        {
            "pid": 555,
            "tid": 555,
            "comm": "node_exporter",
            "cpus": PLAN.isolated_cpus,
            "kthread": False,
        }
    )


def _rescuer_kthread(raw: Raw) -> None:
    raw["tasks"]["list"].append(
        {
            "pid": 3,
            "tid": 3,
            "comm": "rcu_gp",
            "cpus": "0-15",
            "kthread": True,
            "fixed": True,  # PF_NO_SETAFFINITY: a workqueue rescuer nobody may move
        }
    )


def _movable_kthread(raw: Raw) -> None:
    raw["tasks"]["list"].append(
        {"pid": 90, "tid": 90, "comm": "kswapd0", "cpus": "0-15", "kthread": True, "fixed": False}
    )


def _not_watched(groups: dict[str, int]) -> Callable[[Raw], None]:
    def change(raw: Raw) -> None:
        raw["tasks"] = {"watched": "", "total": 300, "groups": groups, "list": []}

    return change


def _window(rate: int) -> Callable[[Raw], None]:
    def change(raw: Raw) -> None:
        before = raw["files"]["proc/interrupts"]
        lines = before.splitlines(keepends=True)
        cpus = len(lines[0].split())
        after_loc = " LOC:" + "".join(f"{1000 + rate:>11}" for _ in range(cpus))
        after = lines[0] + after_loc + "   Local timer interrupts\n" + "".join(lines[2:])
        raw["interrupt_window"] = {"seconds": 1.0, "before": before, "after": after}

    return change


def _kmsg(*lines: str, error: str | None = None) -> Callable[[Raw], None]:
    def change(raw: Raw) -> None:
        raw["kmsg"] = {"source": "/dev/kmsg", "error": error, "lines": list(lines)}

    return change


def _unpinned(raw: Raw) -> None:
    raw["collector"].update(pinned=False, affinity="0-15")


def _nothing(raw: Raw) -> None:
    return None


def _hugepages(node: int, count: int) -> Callable[[Raw], None]:
    rel = f"sys/devices/system/node/node{node}/hugepages/hugepages-1048576kB/nr_hugepages"
    return _set(rel, f"{count}\n")


def _governor(cpu: int, value: str) -> Callable[[Raw], None]:
    return _set(f"{CPU}/cpu{cpu}/cpufreq/scaling_governor", value + "\n")


def _floor(khz: int) -> Callable[[Raw], None]:
    def change(raw: Raw) -> None:
        for key in [k for k in raw["files"] if k.endswith("/cpufreq/scaling_min_freq")]:
            raw["files"][key] = f"{khz}\n"

    return change


def _epp_missing(raw: Raw) -> None:
    for key in [k for k in raw["files"] if k.endswith("energy_performance_preference")]:
        del raw["files"][key]


def _cstate_enabled(raw: Raw) -> None:
    raw["files"][f"{CPU}/cpu{ISO[0]}/cpuidle/state3/disable"] = "0\n"


def _no_cpuidle(raw: Raw) -> None:
    for key in [k for k in raw["files"] if "/cpuidle/" in k]:
        del raw["files"][key]


ARGS = " ".join(PLAN.kernel_args)
# (control, mutation, profile overrides, expected status, text the result must contain)
CASES: list[tuple[str, Callable[[Raw], None], dict[str, Any], str, str]] = [
    ("TUN-001", _nothing, {}, "pass", "booted with the plan"),
    ("TUN-001", _cmdline("ro quiet\n"), {}, "fail", "missing nohz_full="),
    ("TUN-001", _cmdline(f"ro {ARGS} nohz_full=1\n"), {}, "fail", "nohz_full given more than once"),
    # An argument the plan owns but does not set (no tuning_mitigations_off), given twice:
    # the role calls it a pending reboot (it removes both from GRUB), so must the audit.
    (
        "TUN-001",
        _cmdline(f"ro {ARGS} mitigations=auto mitigations=off\n"),
        {},
        "fail",
        "mitigations given more than once",
    ),
    ("TUN-002", _nothing, {}, "pass", "match the plan"),
    ("TUN-002", _set(f"{CPU}/isolated", "\n"), {}, "fail", "reboot"),
    ("TUN-003", _nothing, {}, "pass", "match the plan"),
    ("TUN-003", _set(f"{CPU}/nohz_full", None), {}, "fail", "CONFIG_NO_HZ_FULL"),
    ("TUN-003", _set(f"{CPU}/nohz_full", "(null)\n"), {}, "fail", "actual none"),
    (
        "TUN-003",
        _kmsg("Housekeeping: nohz unsupported. Build with CONFIG_NO_HZ_FULL"),
        {},
        "fail",
        "ignores nohz_full",
    ),
    ("TUN-004", _nothing, {}, "pass", "offloaded"),
    ("TUN-004", _kmsg("rcu: \tOffload RCU callbacks from CPUs: 3,5."), {}, "fail", "7"),
    ("TUN-004", _kmsg(), {}, "not_applicable", "no longer holds the boot messages"),
    ("TUN-004", _kmsg(error="Operation not permitted"), {}, "not_applicable", "not readable"),
    ("TUN-005", _nothing, {}, "pass", "accepted"),
    (
        "TUN-005",
        _kmsg("Housekeeping: nohz unsupported. Build with CONFIG_NO_HZ_FULL"),
        {},
        "fail",
        "nohz unsupported",
    ),
    ("TUN-005", _kmsg(error="Operation not permitted"), {}, "not_applicable", "not readable"),
    ("TUN-006", _nothing, {}, "pass", "where the plan puts them"),
    ("TUN-006", _hugepages(1, 1), {}, "fail", "node(s) [1]"),
    ("TUN-006", _hugepages(0, 2), {}, "fail", "node(s) [0]"),
    ("TUN-007", _nothing, {}, "pass", "as profiled"),
    ("TUN-007", _governor(ISO[0], "powersave"), {}, "fail", "powersave"),
    ("TUN-007", _no_cpufreq_guest, {}, "not_applicable", "not applicable: guest has no cpufreq"),
    ("TUN-008", _nothing, {}, "pass", "performance"),
    (
        "TUN-008",
        _set(f"{CPU}/cpu0/cpufreq/energy_performance_preference", "balance_power\n"),
        {},
        "fail",
        "balance_power",
    ),
    ("TUN-008", _epp_missing, {}, "not_applicable", "no energy_performance_preference"),
    ("TUN-009", _nothing, {"tuning_turbo": "on"}, "pass", "as profiled"),
    (
        "TUN-009",
        _set(f"{CPU}/intel_pstate/no_turbo", "1\n"),
        {"tuning_turbo": "on"},
        "fail",
        "Turn turbo on",
    ),
    ("TUN-009", _nothing, {}, "not_applicable", "tuning_turbo is unchanged"),
    ("TUN-010", _nothing, {}, "pass", "held off"),
    ("TUN-010", _cstate_enabled, {}, "fail", "C6 (133 us)"),
    ("TUN-010", _no_cpuidle, {}, "not_applicable", "no cpuidle states"),
    ("TUN-010", _nothing, {"tuning_idle": "default"}, "not_applicable", "tuning_idle is default"),
    ("TUN-011", _nothing, {}, "pass", "avoid the isolated CPUs"),
    ("TUN-011", _irq_on_isolated, {}, "fail", "IRQ 24"),
    ("TUN-011", _managed_irq_on_isolated, {}, "pass", "avoid"),
    ("TUN-012", _nothing, {}, "pass", "placed"),
    ("TUN-012", _nic_irq_elsewhere, {}, "fail", "on 0"),
    ("TUN-013", _nothing, {}, "pass", "IRQ CPUs"),
    ("TUN-013", _set("proc/irq/default_smp_affinity", "ffff\n"), {}, "fail", "0-15"),
    ("TUN-014", _nothing, {}, "pass", "off"),
    ("TUN-014", _irqbalance([]), {}, "fail", "Stop and mask"),
    (
        "TUN-014",
        fb.units("Id=irqbalance.service\nActiveState=inactive\nUnitFileState=enabled\n"),
        {},
        "fail",
        "next boot",
    ),
    (
        "TUN-014",
        _irqbalance([f"IRQBALANCE_BANNED_CPULIST={PLAN.isolated_cpus}"]),
        {"tuning_irqbalance": "banned"},
        "pass",
        "keeps off",
    ),
    (
        "TUN-014",
        _irqbalance(["IRQBALANCE_BANNED_CPUS=0000a8a8"]),
        {"tuning_irqbalance": "banned"},
        "fail",
        "IRQBALANCE_BANNED_CPULIST",
    ),
    ("TUN-015", _nothing, {}, "pass", "off"),
    (
        "TUN-015",
        _ethtool_c(0, fb.fixture("public/mellanox-ethtool-c.txt")),
        {},
        "fail",
        "adaptive-rx on",
    ),
    (
        "TUN-015",
        _ethtool_c(1, "", "netlink error: Operation not supported\n"),
        {},
        "not_applicable",
        "not applicable: driver sfc does not support interrupt coalescing",
    ),
    ("TUN-015", _ethtool_c(None, "", "ethtool: not installed"), {}, "fail", "Install ethtool"),
    # The role turns adaptive-tx off too (tuning.NIC_COALESCING_OFF): the control judges it.
    # The Mellanox output of the public fixture, with adaptive RX off and rx-usecs 0.
    (
        "TUN-015",
        _ethtool_c(
            0,
            fb.fixture("public/mellanox-ethtool-c.txt")
            .replace("Adaptive RX: on TX: off", "Adaptive RX: off TX: on")
            .replace("rx-usecs: 16", "rx-usecs: 0"),
        ),
        {},
        "fail",
        "actual adaptive-tx on)",
    ),
    (
        "TUN-015",
        _ethtool_c(0, fb.fixture("lab-vm/ethtool-c-ens1-e1000e.txt")),
        {},
        "fail",
        "actual rx-usecs 3)\n  note: driver sfc does not support adaptive-rx",
    ),
    ("TUN-015", _nothing, {"tuning_nic_coalescing_off": False}, "not_applicable", "left as it"),
    ("TUN-016", _nothing, {}, "pass", "is 0"),
    ("TUN-016", _set("proc/sys/kernel/numa_balancing", "1\n"), {}, "fail", "numa_balancing=0"),
    ("TUN-016", _set("proc/sys/kernel/numa_balancing", None), {}, "not_applicable", "none of"),
    ("TUN-028", _nothing, {}, "pass", "is -1"),
    (
        "TUN-028",
        _set("proc/sys/kernel/sched_rt_runtime_us", "950000\n"),
        {},
        "fail",
        "sched_rt_runtime_us=-1",
    ),
    (
        "TUN-028",
        _set("proc/sys/kernel/sched_rt_runtime_us", None),
        {},
        "not_applicable",
        "none of kernel.sched_rt_runtime_us",
    ),
    ("TUN-017", _nothing, {}, "pass", "off"),
    (
        "TUN-017",
        _set("sys/kernel/mm/transparent_hugepage/enabled", "[always] madvise never\n"),
        {},
        "fail",
        "never",
    ),
    (
        "TUN-017",
        _set("sys/kernel/mm/transparent_hugepage/enabled", None),
        {},
        "not_applicable",
        "without transparent hugepages",
    ),
    ("TUN-018", _nothing, {}, "pass", "off"),
    ("TUN-018", _set("sys/kernel/mm/ksm/run", "1\n"), {}, "fail", "ksm/run"),
    ("TUN-018", _set("sys/kernel/mm/ksm/run", None), {}, "not_applicable", "without KSM"),
    ("TUN-019", _nothing, {}, "pass", "off"),
    (
        "TUN-019",
        _set("proc/sys/vm/swappiness", "60\n"),
        {},
        "fail",
        "actual no swap, vm.swappiness=60",
    ),
    ("TUN-029", _nothing, {}, "not_applicable", "tuning_busy_poll_us is 0"),
    ("TUN-029", _busy_poll("50"), {"tuning_busy_poll_us": 50}, "pass", "net.core.busy_read is 50"),
    ("TUN-029", _busy_poll("0"), {"tuning_busy_poll_us": 50}, "fail", "Set net.core.busy_poll=50"),
    (
        "TUN-019",
        _set("proc/swaps", fb.fixture("this-machine/swaps.txt") + "/swapfile file 1048572 0 -2\n"),
        {},
        "fail",
        "/swapfile",
    ),
    ("TUN-020", _nothing, {}, "pass", "kernel.watchdog is 0"),
    # kernel.watchdog=0 (what the role sets) turns the soft lockup detector off whatever
    # kernel.soft_watchdog says (it is 1 until a boot with nosoftlockup).
    ("TUN-020", _set("proc/sys/kernel/soft_watchdog", "1\n"), {}, "pass", "kernel.watchdog is 0"),
    ("TUN-020", _set("proc/sys/kernel/watchdog", "1\n"), {}, "fail", "kernel.watchdog=1"),
    (
        "TUN-020",
        lambda raw: [
            raw["files"].pop(f"proc/sys/kernel/{n}") for n in ("nmi_watchdog", "watchdog")
        ],
        {},
        "not_applicable",
        "none of kernel.nmi_watchdog, kernel.watchdog",
    ),
    ("TUN-021", _nothing, {}, "pass", "is 0"),
    ("TUN-021", _set("proc/sys/kernel/timer_migration", "1\n"), {}, "fail", "timer_migration=0"),
    ("TUN-021", _set("proc/sys/kernel/timer_migration", None), {}, "not_applicable", "none of"),
    ("TUN-022", _nothing, {}, "pass", "vm.stat_interval is 10"),
    (
        "TUN-022",
        _set("proc/sys/vm/stat_interval", "60\n"),
        {},
        "pass",
        "expected vm.stat_interval>=10",
    ),
    ("TUN-022", _set("proc/sys/vm/stat_interval", "1\n"), {}, "fail", "stat_interval=10"),
    ("TUN-022", _set("proc/sys/vm/stat_interval", None), {}, "not_applicable", "none of vm."),
    ("TUN-023", _nothing, {}, "pass", "housekeeping"),
    ("TUN-023", _set("sys/devices/virtual/workqueue/cpumask", "ffff\n"), {}, "fail", "cpumask"),
    (
        "TUN-023",
        _set("sys/devices/virtual/workqueue/cpumask", None),
        {},
        "not_applicable",
        "no workqueue cpumask",
    ),
    ("TUN-024", _nothing, {}, "pass", "reserved for the engine"),
    ("TUN-024", _stray_task, {}, "fail", "node_exporter (PID 555"),
    ("TUN-024", _rescuer_kthread, {}, "pass", "reserved for the engine"),
    ("TUN-024", _movable_kthread, {}, "fail", "kswapd0 (PID 90"),
    ("TUN-024", _not_watched({"0-15": 250, "3": 4}), {}, "fail", "250 task(s) on 0-15"),
    ("TUN-024", _not_watched({"0-2,4,6,8-10,12,14": 250, "3": 4}), {}, "pass", "No task"),
    ("TUN-025", _window(3), {}, "pass", "quiet"),
    ("TUN-025", _window(1000), {}, "fail", "1000/s"),
    ("TUN-025", _nothing, {}, "not_applicable", "no interrupt window"),
    ("TUN-027", _nothing, {}, "not_applicable", "tuning_min_freq is unchanged"),
    ("TUN-027", _floor(3700000), {"tuning_min_freq": "max"}, "pass", "Frequency floor set"),
    ("TUN-027", _nothing, {"tuning_min_freq": "max"}, "fail", "CPU 0: 1200000 kHz (max 3700000"),
    ("TUN-027", _floor(3000000), {"tuning_min_freq": 3000000}, "pass", "3000000 kHz on CPUs"),
    ("TUN-027", _floor(2000000), {"tuning_min_freq": 3000000}, "fail", "CPU 5: 2000000 kHz"),
    ("TUN-027", _no_cpufreq_guest, {"tuning_min_freq": "max"}, "not_applicable", "no cpufreq"),
    ("TUN-026", _nothing, {}, "pass", "stayed off"),
    ("TUN-026", _unpinned, {}, "fail", "TUN-002"),
    ("TUN-030", _nothing, {}, "pass", "/dev/hugepages1G mode 1770 group trader"),
    (
        "TUN-030",
        _hugetlbfs("/dev/hugepages1G", mode="1777"),
        {},
        "fail",
        "/dev/hugepages1G is writable by every user (mode 1777)",
    ),
    (
        "TUN-030",
        _hugetlbfs("/dev/hugepages", mode="0777"),
        {"tuning_hugepages_1g": 0},
        "fail",
        "/dev/hugepages is writable by every user",
    ),
    (
        "TUN-030",
        _hugetlbfs("/dev/hugepages1G", group="root", gid=0),
        {},
        "fail",
        "belongs to group root, not trader",
    ),
    (
        "TUN-030",
        _hugetlbfs("/dev/hugepages1G", group="trader"),
        {"tuning_hugepages_group": "hft"},
        "fail",
        "belongs to group trader, not hft",
    ),
    (
        "TUN-030",
        _hugetlbfs("/dev/hugepages1G", gone=True),
        {},
        "fail",
        "/dev/hugepages1G is not mounted",
    ),
    (
        "TUN-030",
        _hugetlbfs("/dev/hugepages1G", gone=True),
        {"tuning_hugepages_1g": 0},
        "pass",
        "No hugetlbfs mount is writable by every user.",
    ),
    (
        "TUN-030",
        lambda raw: raw.pop("hugetlbfs"),
        {},
        "not_applicable",
        "did not read the hugetlbfs mounts",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=fb.case_ids(CASES))
def test_control(case: fb.Case) -> None:
    overrides = case[2]
    result = fb.check_case(case, fb.plan(**overrides))
    assert result.expected and result.actual and result.message


def test_every_tun_control_has_a_pass_and_a_fail_case() -> None:
    ids = {c.id for c in checks.all_controls() if c.id.startswith("TUN-")}
    for wanted in ("pass", "fail"):
        covered = {c[0] for c in CASES if c[3] == wanted}
        assert ids <= covered, f"no {wanted} case for {sorted(ids - covered)}"


# Controls that apply to every Linux host (no "not applicable" path): anything else needs
# a not-applicable case above.
ALWAYS_APPLY = {
    "TUN-001",
    "TUN-002",
    "TUN-003",
    "TUN-006",
    "TUN-011",
    "TUN-012",
    "TUN-013",
    "TUN-014",
    "TUN-019",
    "TUN-024",
    "TUN-026",
}


def test_every_other_tun_control_has_a_not_applicable_case() -> None:
    ids = {c.id for c in checks.all_controls() if c.id.startswith("TUN-")}
    covered = {c[0] for c in CASES if c[3] == "not_applicable"}
    assert ids - ALWAYS_APPLY <= covered, sorted(ids - ALWAYS_APPLY - covered)


@pytest.mark.parametrize(
    ("control", "change", "named", "said"),
    [
        ("TUN-011", _managed_irq_on_isolated, "nvme0q1", "managed"),
        ("TUN-024", _rescuer_kthread, "rcu_gp (PID 3", "lets nobody change"),
    ],
)
def test_what_the_kernel_lets_nobody_move_is_reported_not_failed(
    control: str, change: Callable[[Raw], None], named: str, said: str
) -> None:
    raw = fb.tuned(PLAN)
    change(raw)
    result = checks.run(control, PLAN, raw, fb.profile())
    assert result.status == "pass"
    assert any(named in note and said in note for note in result.notes)


def test_nic_without_name_is_not_applicable() -> None:
    plan = fb.plan(tuning_nic=None, tuning_numa_node=1)
    raw = fb.tuned(plan)
    for control in ("TUN-012", "TUN-015"):
        result = checks.run(control, plan, raw, fb.profile(tuning_nic=None, tuning_numa_node=1))
        assert result.status == "not_applicable"
        assert "names no trading NIC" in result.message


def test_unreadable_facts_fail_with_a_reason() -> None:
    raw = fb.tuned(PLAN)
    raw["files"][f"{CPU}/isolated"] = "3-\n"
    result = checks.run("TUN-002", PLAN, raw, fb.profile())
    assert result.status == "fail"
    assert "unreadable facts" in result.actual


def test_unknown_control_is_an_error() -> None:
    with pytest.raises(checks.ColotuneError, match="unknown control 'TUN-999'"):
        checks.run("TUN-999", PLAN, fb.tuned(PLAN))


def test_controls_carry_their_metadata() -> None:
    controls = checks.all_controls()
    assert [c.id for c in controls] == sorted(c.id for c in controls)
    for c in controls:
        assert c.title and c.guards and c.role_tag
        assert c.risk in ("live", "disruptive", "reboot")
        assert c.severity in ("error", "warning")
