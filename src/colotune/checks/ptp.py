"""Controls for roles/ptp: linuxptp running, locked, and the only clock discipline (PTP-0xx).

PTP-003/004/005 judge the pmc samples of the snapshot (one, or a window with
`--ptp-window`) through colotune.ptp.window, the same verdict `colotune probe
ptp` gives: a stale Sync (the grandmaster gone, the clock in holdover) counts
even while ptp4l still reports its last offset.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from colotune.checks.base import Context, Control, Need, Status, not_applicable, register
from colotune.host.collector import TIME_DAEMONS, TIME_UNITS
from colotune.profile import HostProfile
from colotune.ptp import pmc, window

Outcome = tuple[Status, str, str, str]
Check = Callable[[Context], Outcome]
FIX = "ptp role, tag ptp"


def ptp_control(
    id: str, function: Check, title: str, guards: str, needs: Need | None = None
) -> Control:
    """A control of roles/ptp: a live fix (tag ptp), not applicable without PTP."""

    def check(ctx: Context) -> Outcome:
        if not ctx.profile.ptp_enabled:
            return not_applicable("ptp_enabled is false for this host")
        return function(ctx)

    return Control(id, title, guards, "live", "ptp", check, needs=needs)


@dataclass(frozen=True)
class Daemon:
    """What a control that a linuxptp daemon is running judges."""

    comm: str  # the process name
    software: str = ""  # why it does not apply with software timestamping ("": it does)


PTP4L = Daemon("ptp4l")
PHC2SYS = Daemon("phc2sys", "software timestamping: ptp4l disciplines CLOCK_REALTIME itself")


def _running(daemon: Daemon, ctx: Context) -> Outcome:
    """The check of a Daemon: its process is running."""
    if daemon.software and ctx.profile.ptp_timestamping == "software":
        return not_applicable(daemon.software)
    found = ctx.snap.running(daemon.comm)
    if found:
        return ("pass", "running", f"PID {found[0]['pid']}", f"{daemon.comm} is running.")
    return ("fail", "running", "not running", f"Start {daemon.comm} ({FIX}).")


def _interface(ctx: Context) -> str | None:
    return ctx.plan.ptp.interface if ctx.plan.ptp is not None else None


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


def _port_states(summary: window.Summary, profile: HostProfile) -> tuple[str, str]:
    wanted = "MASTER" if profile.ptp_role == "grandmaster" else "SLAVE"
    seen = [summary.first_state, *(c.after for c in summary.changes)]
    return wanted, " -> ".join(str(s) for s in seen)


def _grandmaster(summary: window.Summary, profile: HostProfile) -> tuple[str, str]:
    actual = f"gmPresent {str(summary.gm_present).lower()}"
    if summary.gm_identity:
        actual += f" ({summary.gm_identity})"
    if summary.sync_age_s is not None:
        actual += f", last Sync {summary.sync_age_s:g} s before the window's end"
    return "gmPresent true, fresh Sync", actual


def _offsets(summary: window.Summary, profile: HostProfile) -> tuple[str, str]:
    dist = summary.offset_abs_ns
    actual = (
        f"P99 {dist.p99:.0f} ns, max {dist.max:.0f} ns over {dist.count} samples"
        if dist
        else "no fresh offset"
    )
    return f"P99 and max <= {profile.max_offset_ns} ns", actual


@dataclass(frozen=True)
class Window:
    """What a control reports of colotune.ptp.window.judge on the host's window."""

    findings: tuple[str, ...]  # the codes of the findings it reports
    shows: Callable[[window.Summary, HostProfile], tuple[str, str]]  # expected, actual
    passed: str  # the message when none of its findings is there
    advice: str  # what follows the findings in the message of a failure
    hints: tuple[tuple[str, str], ...] = ()  # (finding code, advice added when it is there)
    grandmaster: str = ""  # why it does not apply on a grandmaster ("": it does)


PORT_STATE = Window(
    ("faulty", "port-state", "left-slave"),
    _port_states,
    "The port is {expected}.",
    f" ({FIX}).",
    hints=(("faulty", "raise ptp_tx_timestamp_timeout_ms if it timed out on tx timestamps"),),
)
GRANDMASTER = Window(
    ("no-grandmaster", "sync-stale"),
    _grandmaster,
    "A grandmaster is present.",
    "; check the PTP network and the grandmaster.",
    grandmaster="this host is the grandmaster",
)
OFFSETS = Window(
    ("no-offsets", "offset-p99", "offset-max"),
    _offsets,
    "The clock is within its offset window.",
    f"; check the PTP path and servo ({FIX}).",
    grandmaster="this host is the grandmaster (offset 0 by definition)",
)


def _judged(row: Window, ctx: Context) -> Outcome:
    """The check of a Window: none of its findings on the host's window."""
    if row.grandmaster and ctx.profile.ptp_role == "grandmaster":
        return not_applicable(row.grandmaster)
    summary, findings, problem = _window(ctx)
    if problem:
        return problem
    assert summary is not None
    expected, actual = row.shows(summary, ctx.profile)
    mine = [f for f in findings if f.code in row.findings]
    if not mine:
        return ("pass", expected, actual, row.passed.format(expected=expected))
    said = [f.message for f in mine]
    said += [hint for code, hint in row.hints if any(f.code == code for f in mine)]
    message = "; ".join(said)
    return ("fail", expected, actual, f"{message[0].upper()}{message[1:]}{row.advice}")


def phc2sys_offset(ctx: Context) -> Outcome:
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


def no_competing_daemon(ctx: Context) -> Outcome:
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


# Each row: ID, check, title, what it guards against[, needs]; every fix is live (tag ptp).
CONTROLS = (
    ptp_control(
        "PTP-001", partial(_running, PTP4L), "ptp4l running", "the host clock drifting without PTP"
    ),
    ptp_control(
        "PTP-002",
        partial(_running, PHC2SYS),
        "phc2sys running",
        "the system clock drifting from the NIC's PTP clock",
        ("hardware", "phc2sys needs a NIC with a PTP hardware clock"),
    ),
    ptp_control(
        "PTP-003",
        partial(_judged, PORT_STATE),
        "PTP port state SLAVE (MASTER on a grandmaster), never FAULTY",
        "a port that lost its master or faulted on tx timestamps",
    ),
    ptp_control(
        "PTP-004",
        partial(_judged, GRANDMASTER),
        "Grandmaster present and Sync arriving",
        "holdover without a time source",
    ),
    ptp_control(
        "PTP-005",
        partial(_judged, OFFSETS),
        "Offset from master within ptp_max_offset_ns (P99 and max over the window)",
        "order and market-data timestamps off true time",
        ("slow", "judges offsets over --ptp-window seconds"),
    ),
    ptp_control(
        "PTP-006",
        phc2sys_offset,
        "phc2sys offset within ptp_max_offset_ns",
        "the system clock off the NIC clock that PTP disciplines",
        ("hardware", "phc2sys offsets need a NIC with a PTP hardware clock"),
    ),
    ptp_control(
        "PTP-007",
        no_competing_daemon,
        "No competing time daemon",
        "NTP/chrony fighting ptp4l/phc2sys over the system clock",
    ),
)

register(CONTROLS)
