"""Controls for roles/ptp: linuxptp running, locked, and the only clock discipline (PTP-0xx).

PTP-003/004/005 judge the pmc samples of the snapshot (one, or a window with
`--ptp-window`) through colotune.ptp.window, the same verdict `colotune probe
ptp` gives: a stale Sync (the grandmaster gone, the clock in holdover) counts
even while ptp4l still reports its last offset.
"""

from __future__ import annotations

from typing import Any

from colotune.checks.base import Context, Status, control, not_applicable
from colotune.facts.collector import TIME_DAEMONS, TIME_UNITS
from colotune.ptp import pmc, window

Outcome = tuple[Status, str, str, str]
FIX = "ptp role, tag ptp"
# Which control reports which finding of colotune.ptp.window.judge.
FINDINGS = {
    "PTP-003": ("faulty", "port-state", "left-slave"),
    "PTP-004": ("no-grandmaster", "sync-stale"),
    "PTP-005": ("no-offsets", "offset-p99", "offset-max"),
}


def _disabled(ctx: Context) -> Outcome | None:
    if not ctx.profile.ptp_enabled:
        return not_applicable("ptp_enabled is false for this host")
    return None


def _interface(ctx: Context) -> str | None:
    return ctx.profile.ptp_interface or ctx.plan.nic.name


def _window(ctx: Context) -> tuple[window.Summary | None, list[window.Finding], Outcome | None]:
    """The window of the host's ptp4l (its interface's socket when there are several)."""
    if not ctx.snap.pmc_installed:
        return None, [], ("fail", "pmc answers", "pmc not installed", "Install linuxptp.")
    per_socket = ctx.snap.pmc_samples()
    if not per_socket:
        return (
            None,
            [],
            (
                "fail",
                "pmc answers",
                "no ptp4l socket under /run",
                f"ptp4l is not running (no management socket); start it ({FIX}).",
            ),
        )
    iface = _interface(ctx)
    wanted = pmc.uds_address(iface) if iface else None
    if wanted in per_socket:
        samples: list[dict[str, Any]] = per_socket[wanted]
    elif len(per_socket) == 1:
        samples = next(iter(per_socket.values()))
    else:
        return (
            None,
            [],
            (
                "fail",
                f"one ptp4l for {iface or 'the PTP interface'} ({wanted})",
                ", ".join(sorted(per_socket)),
                "Several ptp4l instances and none on the PTP interface's socket; set "
                f"ptp_interface ({FIX}).",
            ),
        )
    summary = window.summarize(samples)
    findings = window.judge(
        summary, role=ctx.profile.ptp_role, max_offset_ns=float(ctx.profile.max_offset_ns)
    )
    if any(f.code == "no-answer" for f in findings):
        return (
            summary,
            findings,
            (
                "fail",
                "pmc answers",
                "no answer",
                f"ptp4l does not answer management requests in domain {ctx.profile.ptp_domain}; "
                f"check it is running with that domain ({FIX}).",
            ),
        )
    return summary, findings, None


def _mine(control_id: str, findings: list[window.Finding]) -> list[window.Finding]:
    return [f for f in findings if f.code in FINDINGS[control_id]]


@control(
    "PTP-001",
    "ptp4l running",
    guards="the host clock drifting without PTP",
    risk="live",
    role_tag="ptp",
)
def ptp4l_running(ctx: Context) -> Outcome:
    off = _disabled(ctx)
    if off:
        return off
    found = ctx.snap.running("ptp4l")
    if found:
        return ("pass", "running", f"PID {found[0]['pid']}", "ptp4l is running.")
    return ("fail", "running", "not running", f"Start ptp4l ({FIX}).")


@control(
    "PTP-002",
    "phc2sys running",
    guards="the system clock drifting from the NIC's PTP clock",
    risk="live",
    role_tag="ptp",
)
def phc2sys_running(ctx: Context) -> Outcome:
    off = _disabled(ctx)
    if off:
        return off
    if ctx.profile.ptp_timestamping == "software":
        return not_applicable("software timestamping: ptp4l disciplines CLOCK_REALTIME itself")
    found = ctx.snap.running("phc2sys")
    if found:
        return ("pass", "running", f"PID {found[0]['pid']}", "phc2sys is running.")
    return ("fail", "running", "not running", f"Start phc2sys ({FIX}).")


@control(
    "PTP-003",
    "PTP port state SLAVE (MASTER on a grandmaster), never FAULTY",
    guards="a port that lost its master or faulted on tx timestamps",
    risk="live",
    role_tag="ptp",
)
def port_state(ctx: Context) -> Outcome:
    off = _disabled(ctx)
    if off:
        return off
    summary, findings, problem = _window(ctx)
    if problem:
        return problem
    assert summary is not None
    wanted = "MASTER" if ctx.profile.ptp_role == "grandmaster" else "SLAVE"
    seen = [summary.first_state, *(c.after for c in summary.changes)]
    actual = " -> ".join(str(s) for s in seen)
    mine = _mine("PTP-003", findings)
    if not mine:
        return ("pass", wanted, actual, f"The port is {wanted}.")
    message = "; ".join(f.message for f in mine)
    if any(f.code == "faulty" for f in mine):
        message += "; raise ptp_tx_timestamp_timeout_ms if it timed out on tx timestamps"
    return ("fail", wanted, actual, f"{message[0].upper()}{message[1:]} ({FIX}).")


@control(
    "PTP-004",
    "Grandmaster present and Sync arriving",
    guards="holdover without a time source",
    risk="live",
    role_tag="ptp",
)
def grandmaster_present(ctx: Context) -> Outcome:
    off = _disabled(ctx)
    if off:
        return off
    if ctx.profile.ptp_role == "grandmaster":
        return not_applicable("this host is the grandmaster")
    summary, findings, problem = _window(ctx)
    if problem:
        return problem
    assert summary is not None
    expected = "gmPresent true, fresh Sync"
    actual = f"gmPresent {str(summary.gm_present).lower()}"
    if summary.gm_identity:
        actual += f" ({summary.gm_identity})"
    if summary.sync_age_s is not None:
        actual += f", last Sync {summary.sync_age_s:g} s before the window's end"
    mine = _mine("PTP-004", findings)
    if not mine:
        return ("pass", expected, actual, "A grandmaster is present.")
    message = "; ".join(f.message for f in mine)
    return (
        "fail",
        expected,
        actual,
        f"{message[0].upper()}{message[1:]}; check the PTP network and the grandmaster.",
    )


@control(
    "PTP-005",
    "Offset from master within ptp_max_offset_ns (P99 and max over the window)",
    guards="order and market-data timestamps off true time",
    risk="live",
    role_tag="ptp",
)
def offset_window(ctx: Context) -> Outcome:
    off = _disabled(ctx)
    if off:
        return off
    if ctx.profile.ptp_role == "grandmaster":
        return not_applicable("this host is the grandmaster (offset 0 by definition)")
    summary, findings, problem = _window(ctx)
    if problem:
        return problem
    assert summary is not None
    limit = ctx.profile.max_offset_ns
    expected = f"P99 and max <= {limit} ns"
    dist = summary.offset_abs_ns
    actual = (
        f"P99 {dist.p99:.0f} ns, max {dist.max:.0f} ns over {dist.count} samples"
        if dist
        else "no fresh offset"
    )
    mine = _mine("PTP-005", findings)
    if not mine:
        return ("pass", expected, actual, "The clock is within its offset window.")
    message = "; ".join(f.message for f in mine)
    return (
        "fail",
        expected,
        actual,
        f"{message[0].upper()}{message[1:]}; check the PTP path and servo ({FIX}).",
    )


@control(
    "PTP-006",
    "phc2sys offset within ptp_max_offset_ns",
    guards="the system clock off the NIC clock that PTP disciplines",
    risk="live",
    role_tag="ptp",
)
def phc2sys_offset(ctx: Context) -> Outcome:
    off = _disabled(ctx)
    if off:
        return off
    if ctx.profile.ptp_timestamping == "software":
        return not_applicable("software timestamping: no phc2sys")
    offsets = ctx.snap.phc2sys_offsets()
    if offsets is None:
        return not_applicable("phc2sys is not running or has no journal to read offsets from")
    limit = ctx.profile.max_offset_ns
    expected = f"max |offset| <= {limit} ns"
    if not offsets:
        return (
            "fail",
            expected,
            "no locked (s2) offset in the journal",
            f"phc2sys is not locked; check it ({FIX}).",
        )
    worst = max(abs(o) for o in offsets)
    actual = f"max {worst} ns over {len(offsets)} samples"
    if worst <= limit:
        return ("pass", expected, actual, "phc2sys holds the system clock.")
    return (
        "fail",
        expected,
        actual,
        f"phc2sys offsets are out of range; check for a competing discipline ({FIX}).",
    )


@control(
    "PTP-007",
    "No competing time daemon",
    guards="NTP/chrony fighting ptp4l/phc2sys over the system clock",
    risk="live",
    role_tag="ptp",
)
def no_competing_daemon(ctx: Context) -> Outcome:
    off = _disabled(ctx)
    if off:
        return off
    found = [d for d in ctx.snap.daemons if d.get("comm") in TIME_DAEMONS]
    enabled = sorted(
        unit
        for unit in TIME_UNITS
        if ctx.snap.units.get(unit, {}).get("UnitFileState") == "enabled"
    )
    if not found and enabled:
        return (
            "fail",
            "none running or enabled",
            f"{', '.join(enabled)} enabled",
            f"{enabled[0]} starts again at the next boot; mask it ({FIX}).",
        )
    if not found:
        shown = ", ".join(TIME_DAEMONS)
        return ("pass", f"none of {shown}", "none", "PTP is the only discipline.")
    names = ", ".join(f"{d['comm']} (PID {d['pid']})" for d in found)
    return ("fail", "none running", names, f"Stop and mask {found[0]['comm']} ({FIX}).")
