"""Sysctls: the check of every sysctl control (the sysctls tuning.sysctls names it for)."""

from __future__ import annotations

from functools import partial

from colotune import tuning
from colotune.checks.base import CheckFunction, Context, not_applicable
from colotune.checks.tuning.common import Outcome

NONE_KEPT = "this host keeps none of its sysctls"


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


def check(control_id: str, lacking: str, unset: str = NONE_KEPT) -> CheckFunction:
    """The check of a sysctl control: `judge` for `control_id`; `lacking` says why a kernel may
    have none of its sysctls, `unset` why the profile may keep none of them (not applicable)."""
    return partial(judge, control_id=control_id, lacking=lacking, unset=unset)
