"""The trading NIC's settings: interrupt coalescing."""

from __future__ import annotations

from colotune import tuning
from colotune.checks.base import Context, Result, not_applicable
from colotune.checks.tuning.common import Outcome
from colotune.host import parsers


def coalescing(ctx: Context) -> Outcome | Result:
    name = ctx.plan.nic.name
    if not name:
        return not_applicable("the plan names no trading NIC yet")
    wanted = tuning.nic_coalescing(ctx.plan, ctx.profile)
    if not wanted:
        return not_applicable("tuning_nic_coalescing_off is false: coalescing is left as it is")
    expected = ", ".join(f"{key} {value}" for key, value in wanted.items())
    nic = ctx.snap.topology.nics.get(name)
    driver = (nic.driver if nic else None) or ctx.plan.nic.driver or "?"
    result = ctx.snap.ethtool(name, "c")
    if result is None:
        return (
            "fail",
            expected,
            "not collected",
            f"NIC {name} is not on the host; check tuning_nic.",
        )
    if result["rc"] is None:
        return ("fail", expected, result["err"], "Install ethtool on the host.")
    if result["rc"] != 0:
        if "not supported" in (result["err"] + result["out"]).lower():
            return not_applicable(f"driver {driver} does not support interrupt coalescing")
        return ("fail", expected, result["err"].strip(), "Check ethtool -c on the host.")
    values = parsers.parse_ethtool_coalesce(result["out"])
    shown = {key: _as_ethtool(values[key]) for key in wanted if values.get(key) is not None}
    if not shown:
        return not_applicable(f"driver {driver} supports none of {', '.join(wanted)}")
    actual = ", ".join(f"{key} {value}" for key, value in shown.items())
    unsupported = tuple(
        f"driver {driver} does not support {key}" for key in wanted if key not in shown
    )
    wrong = [f"{key} {value}" for key, value in shown.items() if value != wanted[key]]
    if wrong:
        message = (
            f"Turn coalescing off on {name} outside market hours (tuning role, tag tuning_nic)."
        )
        return Result("TUN-015", "fail", expected, ", ".join(wrong), message, unsupported)
    return Result("TUN-015", "pass", expected, actual, "Coalescing is off.", unsupported)


def _as_ethtool(value: int | bool | str | None) -> str:
    """A value of parse_ethtool_coalesce as ethtool prints it (on/off, numbers)."""
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)
