"""Controller side of roles/tuning: desired runtime state, market-hours guard, cmdline checks."""

from __future__ import annotations

import datetime as dt
import importlib.util
from collections.abc import Callable
from pathlib import Path

import facts_builder as fb
import pytest

from colotune import checks, profile, tuning
from colotune.facts.snapshot import Snapshot
from colotune.host import collector, topology, tune
from colotune.plan import make_plan

REPO = Path(__file__).resolve().parents[2]

NY = dt.timezone(dt.timedelta(hours=-5))


def test_desired_state_from_plan(topology_fixture: Callable[[str], Path]) -> None:
    topo = topology.load(topology_fixture("xeon-gold-5122-2s"))
    prof = profile.build(
        {"tuning_nic": "ens1f0np0", "tuning_hugepages_1g": 2, "tuning_busy_poll_us": 50}
    )
    plan = make_plan(topo, prof)
    state = tuning.desired_state(plan, prof)
    assert state["irq_cpus"] == plan.irq_cpus
    assert state["coalescing"] == {"adaptive-rx": "off", "adaptive-tx": "off", "rx-usecs": "0"}
    assert state["hugepages_runtime"] == {"0": 0, "1": 2}  # kernel 4.18: runtime allocation
    assert state["sysctls"]["net.core.busy_poll"] == {
        "value": "50",
        "control": "TUN-029",
        "at_least": False,
    }
    assert state["sysctls"]["kernel.numa_balancing"]["value"] == "0"
    # Every sysctl colotune keeps is judged by the control it names, and the collector
    # reads it (the collector runs on the host with the standard library only).
    controls = {c.id for c in checks.all_controls()}
    for name, wanted in tuning.sysctls(prof).items():
        assert wanted.control in controls, name
        assert name.replace(".", "/") in collector.SYSCTLS, name


def test_sysctl_controls_judge_this_table(monkeypatch: pytest.MonkeyPatch) -> None:
    # A sysctl control expects what tuning.SYSCTLS says, and its fix names only what is wrong.
    plan = fb.plan()
    raw = fb.tuned(plan)
    monkeypatch.setitem(tuning.SYSCTLS, "kernel.nmi_watchdog", tuning.Sysctl("1", "TUN-020"))
    result = checks.run("TUN-020", plan, raw, fb.profile())
    assert result.status == "fail"
    assert result.expected == "kernel.nmi_watchdog=1, kernel.watchdog=0"
    assert result.actual == "kernel.nmi_watchdog=0"
    assert result.message == "Set kernel.nmi_watchdog=1 (tuning role, tag tuning_sysctl)."


def test_guard_in_and_out_of_market_hours() -> None:
    prof = profile.build({"tuning_nic": "e"})
    inside = tuning.guard(prof, dt.datetime(2026, 11, 23, 10, 0, tzinfo=NY))
    assert inside["allowed"] == ["live"]
    assert "wait until after 2026-11-23 20:00 America/New_York" in inside["reason"]
    outside = tuning.guard(prof, dt.datetime(2026, 11, 23, 21, 0, tzinfo=NY))
    assert outside["allowed"] == ["live", "disruptive", "reboot"]
    forced = tuning.guard(
        profile.build({"tuning_nic": "e", "colotune_force_in_market_hours": True}),
        dt.datetime(2026, 11, 23, 10, 0, tzinfo=NY),
    )
    assert forced["allowed"] == ["live", "disruptive", "reboot"]
    assert forced["reason"].startswith("INSIDE MARKET HOURS (colotune_trading_hours session")
    assert "forced by colotune_force_in_market_hours" in forced["reason"]


def test_cmdline_checks() -> None:
    args = ["isolcpus=managed_irq,domain,2-3", "nohz_full=2-3", "skew_tick=1"]
    good = ["BOOT_IMAGE=/vmlinuz", "root=/dev/vda1", *args]
    assert tuning.cmdline_problems(good, args) == []
    assert tuning.cmdline_problems([*good, "nohz_full=1"], args) == [
        "nohz_full given more than once"
    ]
    assert tuning.cmdline_problems(["root=/dev/vda1", "nohz_full=1"], args) == [
        "missing isolcpus=managed_irq,domain,2-3",
        "missing nohz_full=2-3 (has nohz_full=1)",
        "missing skew_tick=1",
    ]
    assert tuning.cmdline_problems([*good, "mitigations=off", "mitigations=auto"], args) == [
        "mitigations given more than once"
    ]
    assert tuning.grub_cmdline("quiet isolcpus=1 console=ttyS0", args) == (
        "quiet console=ttyS0 " + " ".join(args)
    )


# The filters the playbooks call (plugins/filter/colotune.py), loaded as Ansible loads them.
_spec = importlib.util.spec_from_file_location(
    "colotune_filters", REPO / "plugins/filter/colotune.py"
)
assert _spec and _spec.loader
filters = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(filters)


def test_the_role_and_the_reboot_play_read_the_command_line_as_the_kernel_does() -> None:
    plan = fb.plan()
    cmdline = fb.tuned(plan)["files"]["proc/cmdline"]
    assert filters.colotune_cmdline_problems(cmdline, plan.kernel_args) == []
    # A quoted value holds a space: the kernel takes it as one argument, a shell split two.
    quoted = f'{cmdline.strip()} dyndbg="file x.c +p"\n'
    assert filters.colotune_cmdline_problems(quoted, plan.kernel_args) == []


def test_the_reboot_play_judges_with_the_boot_controls() -> None:
    plan = fb.plan()
    raw = fb.tuned(plan)
    files = raw["files"]
    shown = {
        "cmdline": files["proc/cmdline"],
        "isolated": files["sys/devices/system/cpu/isolated"],
        "nohz_full": files["sys/devices/system/cpu/nohz_full"],
        "hugepages": {str(node): count for node, count in Snapshot(raw).hugepages().items()},
    }
    assert filters.colotune_plan_in_effect(plan.model_dump(mode="json"), **shown) == []
    # 1 GiB pages on a node the plan gives none: the audit fails TUN-006, so must the play.
    extra = {**shown, "hugepages": {**shown["hugepages"], "0": 1}}
    if plan.hugepages.get("0", {}).get("1G"):
        extra["hugepages"]["0"] = plan.hugepages["0"]["1G"] + 1
    failed = filters.colotune_plan_in_effect(plan.model_dump(mode="json"), **extra)
    assert len(failed) == 1 and failed[0].startswith("TUN-006 fail"), failed
    # A kernel booted without the plan's arguments, nothing isolated.
    bare = {**shown, "cmdline": "ro quiet\n", "isolated": "\n", "nohz_full": "\n"}
    failed = filters.colotune_plan_in_effect(plan.model_dump(mode="json"), **bare)
    assert [line.split()[0] for line in failed] == ["TUN-001", "TUN-002", "TUN-003"], failed


@pytest.mark.parametrize(
    ("name", "current"),
    [
        ("vm.stat_interval", "20"),  # at_least: larger is as good
        ("vm.stat_interval", "1"),
        ("kernel.sched_rt_runtime_us", "-1"),
        ("kernel.sched_rt_runtime_us", "950000"),
        ("kernel.numa_balancing", "0 "),
        ("kernel.numa_balancing", "1"),
    ],
)
def test_the_role_and_the_audit_agree_on_each_sysctl(
    tmp_path: Path, name: str, current: str
) -> None:
    # colotune-tune changes a sysctl exactly when the control's rule says it is unmet
    wanted = tuning.SYSCTLS[name]
    path = tmp_path / "proc/sys" / name.replace(".", "/")
    path.parent.mkdir(parents=True)
    path.write_text(current + "\n")
    desired = {"irq_cpus": None, "sysctls": {name: wanted.to_dict()}}
    changed = [
        c
        for c in tune.changes(tune.Host(root=tmp_path), desired)
        if c.target.startswith("proc/sys")
    ]
    assert bool(changed) == (not wanted.satisfied_by(current))
