"""Controller side of roles/tuning: desired runtime state, market-hours guard, cmdline checks."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

from colotune import profile, topology, tuning
from colotune.plan import make_plan

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
    assert state["sysctls"]["net.core.busy_poll"] == "50"
    assert state["sysctls"]["kernel.numa_balancing"] == "0"


def test_guard_in_and_out_of_market_hours() -> None:
    prof = profile.build({"tuning_nic": "e"})
    inside = tuning.guard(prof, dt.datetime(2026, 11, 23, 10, 0, tzinfo=NY))
    assert inside["allowed"] == ["live"]
    assert "wait until after 20:00 America/New_York" in inside["reason"]
    outside = tuning.guard(prof, dt.datetime(2026, 11, 23, 21, 0, tzinfo=NY))
    assert outside["allowed"] == ["live", "disruptive", "reboot"]
    forced = tuning.guard(
        profile.build({"tuning_nic": "e", "colotune_force_in_market_hours": True}),
        dt.datetime(2026, 11, 23, 10, 0, tzinfo=NY),
    )
    assert forced["allowed"] == ["live", "disruptive", "reboot"]
    assert forced["reason"].startswith("INSIDE MARKET HOURS, forced")


def test_cmdline_checks() -> None:
    args = ["isolcpus=managed_irq,domain,2-3", "nohz_full=2-3", "skew_tick=1"]
    good = "BOOT_IMAGE=/vmlinuz root=/dev/vda1 " + " ".join(args)
    assert tuning.cmdline_matches(good, args) == []
    assert tuning.cmdline_matches(good + " nohz_full=1", args) == ["nohz_full (repeated)"]
    assert tuning.cmdline_matches("root=/dev/vda1", args) == args
    assert tuning.grub_cmdline("quiet isolcpus=1 console=ttyS0", args) == (
        "quiet console=ttyS0 " + " ".join(args)
    )
