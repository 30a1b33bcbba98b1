"""Filters colotune's playbooks use; the logic lives in the colotune package."""

from __future__ import annotations

from typing import Any


def colotune_bundle(name: str) -> str:
    """The on-host program `name` ("tune") as one self-contained python3 script."""
    from colotune import bundle

    programs = {"tune": bundle.tune_script}
    if name not in programs:
        raise ValueError(f"no colotune program {name!r} (valid: {', '.join(programs)})")
    return programs[name]()


def colotune_plan_in_effect(
    plan: dict[str, Any], isolated: str, nohz_full: str, hugepages: dict[str, Any]
) -> list[str]:
    """What of the plan the running kernel does not show; empty when the plan is in effect."""
    from colotune import plan as planning
    from colotune import tuning

    counts = {str(node): int(count) for node, count in hugepages.items()}
    return tuning.in_effect(
        planning.Plan.model_validate(plan),
        isolated=isolated,
        nohz_full=nohz_full,
        hugepages=counts,
    )


def colotune_cmdline_problems(cmdline: str, kernel_args: list[str]) -> list[str]:
    """Plan arguments missing from /proc/cmdline or present twice."""
    from colotune import tuning

    return tuning.cmdline_matches(cmdline, kernel_args)


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "colotune_bundle": colotune_bundle,
            "colotune_plan_in_effect": colotune_plan_in_effect,
            "colotune_cmdline_problems": colotune_cmdline_problems,
        }
