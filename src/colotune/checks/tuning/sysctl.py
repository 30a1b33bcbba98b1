"""Sysctls: one control per row of CONTROLS, judging the sysctls tuning.sysctls names it for."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from colotune import tuning
from colotune.checks.base import Context, Severity, control, not_applicable
from colotune.checks.tuning.common import Outcome

NONE_KEPT = "this host keeps none of its sysctls"


@dataclass(frozen=True)
class SysctlControl:
    """A control whose rule is the role's table: the sysctls `tuning.sysctls` names it for."""

    id: str
    title: str
    guards: str
    lacking: str  # why a kernel may have none of them
    severity: Severity = "error"
    unset: str = NONE_KEPT  # why the profile may keep none of them (not applicable)


CONTROLS = (
    SysctlControl(
        "TUN-016",
        "Automatic NUMA balancing off (kernel.numa_balancing=0)",
        guards="page migration scans and hinting faults",
        lacking="built without NUMA balancing",
    ),
    SysctlControl(
        "TUN-020",
        "Lockup watchdogs off (NMI and soft lockup)",
        guards="periodic watchdog NMIs and hrtimers on every CPU",
        lacking="built without lockup detectors",
    ),
    SysctlControl(
        "TUN-021",
        "Timer migration off (kernel.timer_migration=0)",
        guards="timers pulled onto trading cores",
        lacking="built without timer migration",
        severity="warning",
    ),
    SysctlControl(
        "TUN-022",
        "VM statistics interval relaxed (vm.stat_interval >= 10)",
        guards="vmstat_update work on every CPU each second",
        lacking="built without vm.stat_interval",
        severity="warning",
    ),
    SysctlControl(
        "TUN-028",
        "RT throttling off (kernel.sched_rt_runtime_us=-1)",
        guards="a busy-polling SCHED_FIFO engine thread stopped for 50 ms of every second",
        lacking="built without RT scheduling",
    ),
    SysctlControl(
        "TUN-029",
        "Busy-poll sysctls as the profile asks (net.core.busy_poll, busy_read)",
        guards="socket reads that sleep for an interrupt instead of polling the NIC queue",
        lacking="built without busy polling",
        unset="tuning_busy_poll_us is 0: the kernel's default is left",
    ),
)


def judge(ctx: Context, control_id: str, lacking: str, unset: str = NONE_KEPT) -> Outcome:
    """Judge the sysctls colotune keeps (tuning.sysctls) that `control_id` stands for."""
    wanted = {n: s for n, s in tuning.sysctls(ctx.profile).items() if s.control == control_id}
    if not wanted:
        return not_applicable(unset)
    current = {name: ctx.snap.sysctl(name) for name in wanted}
    present = {name: value for name, value in current.items() if value is not None}
    if not present:
        return not_applicable(f"this kernel has none of {', '.join(wanted)} ({lacking})")
    expected = ", ".join(
        f"{name}{'>=' if wanted[name].at_least else '='}{wanted[name].value}" for name in present
    )
    unmet = [n for n, v in present.items() if not wanted[n].satisfied_by(v)]
    if not unmet:
        shown = ", ".join(f"{n}={v}" for n, v in present.items())
        said = ", ".join(f"{n} is {v}" for n, v in present.items())
        return ("pass", expected, shown, f"{said}.")
    wrong = ", ".join(f"{n}={present[n]}" for n in unmet)
    fix = " ".join(f"{n}={wanted[n].value}" for n in unmet)
    return ("fail", expected, wrong, f"Set {fix} (tuning role, tag tuning_sysctl).")


for row in CONTROLS:
    control(
        row.id,
        row.title,
        guards=row.guards,
        risk="live",
        role_tag="tuning_sysctl",
        severity=row.severity,
    )(partial(judge, control_id=row.id, lacking=row.lacking, unset=row.unset))
