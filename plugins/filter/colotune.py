"""Filters colotune's playbooks use; the logic lives in the colotune package."""

from __future__ import annotations

from typing import Any


def colotune_bundle(name: str) -> str:
    """The on-host program `name` (e.g. "tune") as one self-contained python3 file."""
    from colotune import bundle

    return bundle.executable(name)


def colotune_plan_in_effect(
    plan: dict[str, Any],
    cmdline: str,
    isolated: str,
    nohz_full: str,
    hugepages: dict[str, Any],
) -> list[str]:
    """The boot-time controls (TUN-001/002/003/006) that fail on what the host shows now;
    empty when the plan is in effect. The audit's own rules (colotune.checks)."""
    from colotune import checks
    from colotune import plan as planning

    failed = checks.plan_in_effect(
        planning.Plan.model_validate(plan),
        cmdline=cmdline,
        isolated=isolated,
        nohz_full=nohz_full,
        hugepages={int(node): int(count) for node, count in hugepages.items()},
    )
    return [result.explain() for result in failed]


def colotune_cmdline_problems(cmdline: str, kernel_args: list[str]) -> list[str]:
    """What keeps /proc/cmdline from carrying the plan's arguments once each (TUN-001)."""
    from colotune import tuning
    from colotune.host import parsers

    return tuning.cmdline_problems(parsers.parse_cmdline(cmdline), kernel_args)


def colotune_after_boot(collected: str, variables: dict[str, Any], host: str) -> list[str]:
    """What stops the reboot rollout at `host`: its PTP controls (ptp4l locked) and the
    audit's verdict, judged on the collector's JSON; empty when the host is locked and go."""
    import datetime as dt
    import json

    from colotune import profile
    from colotune.audit import after_boot

    prof = profile.build(profile.profile_variables(variables), host=host)
    raw = json.loads(collected)
    return after_boot.problems(host, raw, prof, today=dt.datetime.now(dt.UTC).date())


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "colotune_bundle": colotune_bundle,
            "colotune_plan_in_effect": colotune_plan_in_effect,
            "colotune_cmdline_problems": colotune_cmdline_problems,
            "colotune_after_boot": colotune_after_boot,
        }
