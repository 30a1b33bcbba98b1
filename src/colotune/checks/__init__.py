"""Controls: each a stable ID and a pure check(plan, snapshot) -> Result on effective state.

    from colotune import checks
    result = checks.run("TUN-002", plan, snapshot)          # snapshot: dict or Snapshot
    for control in checks.all_controls(): ...

The same controls run in the pytest-testinfra suite (validators/) and in
`colotune audit`. IDs never change meaning; a retired control keeps its ID.
"""

from __future__ import annotations

from typing import Any

from colotune.checks import launch, ptp, tuning  # noqa: F401  (registers the controls)
from colotune.checks.base import REGISTRY, Context, Control, Result, default_profile
from colotune.errors import ColotuneError
from colotune.facts.snapshot import Snapshot
from colotune.plan import Plan
from colotune.profile import HostProfile

__all__ = [
    "ColotuneError",
    "Context",
    "Control",
    "Result",
    "all_controls",
    "default_profile",
    "get",
    "plan_in_effect",
    "run",
]

# The controls of what only a boot applies: playbooks/reboot.yml asks them of each host
# after its reboot, before the next host goes.
BOOT_CONTROLS = ("TUN-001", "TUN-002", "TUN-003", "TUN-006")
HUGEPAGES_1G = "sys/devices/system/node/node{node}/hugepages/hugepages-1048576kB/nr_hugepages"


def all_controls() -> list[Control]:
    """Every control, ordered by ID."""
    return [REGISTRY[key] for key in sorted(REGISTRY)]


def get(control_id: str) -> Control:
    try:
        return REGISTRY[control_id]
    except KeyError:
        raise ColotuneError(
            f"unknown control {control_id!r} (known: {', '.join(sorted(REGISTRY))})"
        ) from None


def run(
    control_id: str,
    plan: Plan,
    snapshot: Snapshot | dict[str, Any],
    profile: HostProfile | None = None,
) -> Result:
    """Judge one control on one host's snapshot against its plan (and profile, for settings
    the plan does not carry: governor, irqbalance mode, PTP thresholds)."""
    return get(control_id).check(plan, snapshot, profile)


def plan_in_effect(
    plan: Plan, *, cmdline: str, isolated: str, nohz_full: str, hugepages: dict[int, int]
) -> list[Result]:
    """The boot-time controls judged on what a host shows after a boot; the failed ones.

    Empty when the plan is in effect. The inputs are the files' texts (/proc/cmdline,
    /sys/devices/system/cpu/isolated and nohz_full) and the 1 GiB pages per node, so the
    reboot play judges with the audit's own rules.
    """
    files = {
        "proc/cmdline": cmdline,
        "sys/devices/system/cpu/isolated": isolated,
        "sys/devices/system/cpu/nohz_full": nohz_full,
    }
    for node, count in hugepages.items():
        files[HUGEPAGES_1G.format(node=node)] = str(count)
    raw = {"format": 1, "files": files}
    results = [run(control_id, plan, raw) for control_id in BOOT_CONTROLS]
    return [result for result in results if not result.ok]
