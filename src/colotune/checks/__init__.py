"""Controls: each a stable ID and a pure check(plan, snapshot) -> Result on effective state.

    from colotune import checks
    result = checks.run("TUN-002", plan, snapshot)          # snapshot: dict or Snapshot
    for control in checks.all_controls(): ...

The same controls run in the pytest-testinfra suite (validators/) and in
`colotune audit`. IDs never change meaning; a retired control keeps its ID.
"""

from __future__ import annotations

from typing import Any

from colotune.checks import ptp, tuning  # noqa: F401  (registers the controls)
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
    "run",
]


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
