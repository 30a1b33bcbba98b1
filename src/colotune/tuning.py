"""What roles/tuning makes of a plan: the runtime desired state and the market-hours guard.

Controller side. `desired_state` renders /etc/colotune/tuning.json, which the
on-host `colotune.host.tune` applies and re-applies; `guard` says which risk
classes may change now, and why not.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from colotune import market
from colotune.host import tune
from colotune.plan import PLAN_ARGUMENTS, Plan
from colotune.profile import HostProfile


@dataclass(frozen=True)
class Sysctl:
    """A sysctl colotune keeps: its value and the control that judges it."""

    value: str
    control: str
    at_least: bool = False  # a larger number is as good (colotune-tune leaves it alone)

    def satisfied_by(self, current: str) -> bool:
        return tune.sysctl_satisfied(current, self.value, self.at_least)

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "control": self.control, "at_least": self.at_least}


# Kernel and VM sysctls every tuned host gets (FIELD.md: jitter sources). roles/tuning
# persists and applies them (colotune-tune); the controls named here judge them.
SYSCTLS: dict[str, Sysctl] = {
    "kernel.numa_balancing": Sysctl("0", "TUN-016"),
    "kernel.timer_migration": Sysctl("0", "TUN-021"),
    "vm.stat_interval": Sysctl("10", "TUN-022", at_least=True),
    # kernel.watchdog=0 turns both lockup detectors off; nmi_watchdog=0 the NMI one alone.
    "kernel.nmi_watchdog": Sysctl("0", "TUN-020"),
    "kernel.watchdog": Sysctl("0", "TUN-020"),
    "vm.swappiness": Sysctl("0", "TUN-019"),
    # No RT throttling: a busy-polling SCHED_FIFO engine thread would otherwise be stopped
    # for 50 ms of every second (the default 950000 of 1000000 us). Its CPU is isolated.
    "kernel.sched_rt_runtime_us": Sysctl("-1", "TUN-028"),
}


def sysctls(profile: HostProfile) -> dict[str, Sysctl]:
    """Every sysctl colotune keeps on a host with this profile."""
    wanted = dict(SYSCTLS)
    if profile.tuning_busy_poll_us:
        for name in ("net.core.busy_poll", "net.core.busy_read"):
            wanted[name] = Sysctl(str(profile.tuning_busy_poll_us), "TUN-029")
    return wanted


# The trading NIC's interrupt coalescing with tuning_nic_coalescing_off (ethtool -C names and
# values as ethtool -c prints them). colotune-tune applies it; TUN-015 judges it.
NIC_COALESCING_OFF: dict[str, str] = {"adaptive-rx": "off", "adaptive-tx": "off", "rx-usecs": "0"}
RISK_CLASSES = ("live", "disruptive", "reboot")


def nic_coalescing(plan: Plan, profile: HostProfile) -> dict[str, str]:
    """The coalescing settings colotune keeps on the plan's NIC ({}: it leaves them alone)."""
    if profile.tuning_nic_coalescing_off and plan.nic.name:
        return dict(NIC_COALESCING_OFF)
    return {}


def desired_state(plan: Plan, profile: HostProfile) -> dict[str, Any]:
    """The runtime state colotune-tune keeps the host in, from the plan and the profile."""
    return {
        "nic": plan.nic.name,
        "irq_cpus": plan.irq_cpus,
        "housekeeping_cpus": plan.housekeeping_cpus,
        "isolated_cpus": plan.isolated_cpus,
        "governor": profile.tuning_governor,
        "epp": "performance" if profile.tuning_governor == "performance" else None,
        "turbo": profile.tuning_turbo,
        "min_freq": profile.tuning_min_freq,
        "thp": "never",
        "ksm_off": True,
        "swap_off": True,
        "sysctls": {name: wanted.to_dict() for name, wanted in sysctls(profile).items()},
        "coalescing": nic_coalescing(plan, profile),
        "hugepages_runtime": (
            {node: sizes["1G"] for node, sizes in plan.hugepages.items()}
            if plan.hugepages_runtime
            else {}
        ),
    }


def guard(profile: HostProfile, now: dt.datetime | None = None) -> dict[str, Any]:
    """Which risk classes may change at `now`, with the reason when some may not.

    `now` defaults to the controller's clock, or to `colotune_now`, the test override (which
    the profile refuses on production hosts); `clock_override` then says so, for a warning.
    """
    override = None
    if now is None:
        now = profile.colotune_now or dt.datetime.now(dt.UTC)
        if profile.colotune_now is not None:
            override = (
                f"colotune_now={profile.colotune_now.isoformat()} pins the market-hours guard's "
                f"clock (colotune_environment {profile.colotune_environment}): the guard is "
                "judging a rehearsal time, not the real clock"
            )
    where = market.describe(profile, now)
    trading = bool(where["trading"])
    forced = profile.colotune_force_in_market_hours
    allowed = list(RISK_CLASSES) if (not trading or forced) else ["live"]
    if trading and forced:
        reason = (
            f"INSIDE MARKET HOURS ({where['session']}), forced by "
            "colotune_force_in_market_hours: disruptive and reboot-class changes will be applied"
        )
    elif trading:
        reason = (
            f"inside market hours ({where['session']}): only live changes; disruptive and "
            f"reboot-class changes wait until after {where['until']}"
        )
    else:
        reason = "outside market hours: every change allowed"
    return {
        "trading": trading,
        "forced": forced,
        "allowed": allowed,
        "reason": reason,
        "clock_override": override,
    }


def grub_cmdline(existing: str, plan_args: list[str]) -> str:
    """A GRUB_CMDLINE value with the plan's arguments replacing any earlier copies of them."""
    kept = [arg for arg in existing.split() if arg.split("=", 1)[0] not in PLAN_ARGUMENTS]
    return " ".join([*kept, *plan_args])


def cmdline_problems(args: list[str], plan_args: list[str]) -> list[str]:
    """What keeps a kernel's arguments from being the plan's; empty when they are (TUN-001).

    `args` is /proc/cmdline split as the kernel splits it (`parsers.parse_cmdline`). Each
    plan argument must be there exactly once, and no argument the plan owns
    (`PLAN_ARGUMENTS`, which roles/tuning removes from GRUB before adding the plan's) may be
    given more than once: which copy the kernel honours differs from one argument to the
    next. The role (is a reboot pending?), playbooks/reboot.yml and TUN-001 all ask this.
    """

    def key(arg: str) -> str:
        return arg.split("=", 1)[0]

    problems = []
    for wanted in plan_args:
        if wanted not in args:
            others = [arg for arg in args if key(arg) == key(wanted)]
            problems.append(f"missing {wanted}" + (f" (has {' '.join(others)})" if others else ""))
    owned = [key(arg) for arg in args if key(arg) in PLAN_ARGUMENTS]
    problems += [f"{k} given more than once" for k in sorted(set(owned)) if owned.count(k) > 1]
    return problems
