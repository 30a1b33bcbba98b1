"""ptp4l and phc2sys log lines: offsets, port-state changes and faults.

Reads the forms these daemons print: `-m` to a terminal ("ptp4l[1339.093]: ..."),
the journal ("Nov 22 ... host ptp4l[629]: [1062.033] ..."), `journalctl -o cat`
("[1062.033] ..."), with or without a "[ptp4l.0.config] " tag, and the port
names of linuxptp 4.x ("port 1 (eth0): ..."). Lines it does not know are skipped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

# "ptp4l[1339.093]: " or "host ptp4l[629]: [1062.033] " or "[1062.033] ", then an optional tag.
_PREFIX = re.compile(
    r"^(?:.*?\b(?P<prog>ptp4l|phc2sys)\[(?P<a>[\d.]+)\]:\s*)?"
    r"(?:\[(?P<b>\d+\.\d+)\]\s*)?"
    r"(?:\[[\w.:-]+\]\s*)?"
    r"(?P<msg>.*)$"
)
_MASTER_OFFSET = re.compile(
    r"^master offset\s+(?P<offset>-?\d+)\s+s(?P<servo>\d)\s+freq\s+(?P<freq>[-+]?\d+)"
    r"\s+path delay\s+(?P<delay>-?\d+)"
)
_PHC_OFFSET = re.compile(
    r"^(?P<clock>\S+)\s+(?:phc|sys)\s+offset\s+(?P<offset>-?\d+)\s+s(?P<servo>\d)"
    r"\s+freq\s+(?P<freq>[-+]?\d+)(?:\s+delay\s+(?P<delay>-?\d+))?"
)
_SUMMARY = re.compile(
    r"^(?:(?P<clock>\S+)\s+)?rms\s+(?P<rms>\d+)\s+max\s+(?P<max>\d+)\s+freq\s+(?P<freq>[-+]?\d+)"
    r"\s+\+/-\s+(?P<freqdev>\d+)(?:\s+delay\s+(?P<delay>-?\d+)\s+\+/-\s+(?P<delaydev>\d+))?"
)
_STATE = re.compile(
    r"^port (?P<port>\d+)(?: \((?P<iface>[^)]*)\))?: (?P<before>[A-Z_]+) to (?P<after>[A-Z_]+)"
    r" on (?P<event>[A-Z_]+)(?: \((?P<detail>[^)]*)\))?"
)
FAULT_TEXTS = (
    "timed out while polling for tx timestamp",
    "send sync failed",
    "missing timestamp on transmitted",
    "rogue peer delay response",
    "clockcheck: clock jumped",
    "received SYNC without timestamp",
    "received DELAY_REQ without timestamp",
)


@dataclass(frozen=True)
class Offset:
    """One servo update: ptp4l's master offset or phc2sys's offset of `clock`."""

    program: str | None  # ptp4l, phc2sys, or None when the line carried no name
    time: float | None  # the daemon's monotonic timestamp
    clock: str | None  # phc2sys: the disciplined clock (CLOCK_REALTIME, eth0); ptp4l: None
    offset_ns: int
    servo_state: int  # 0 unlocked, 1 clock step, 2 locked, 3 locked stable
    freq_ppb: int
    delay_ns: int | None


@dataclass(frozen=True)
class Stats:
    """A summary_interval line: rms and max offset over the last interval."""

    program: str | None
    time: float | None
    clock: str | None
    rms_ns: int
    max_ns: int
    delay_ns: int | None


@dataclass(frozen=True)
class PortStateChange:
    program: str | None
    time: float | None
    port: int
    interface: str | None
    before: str
    after: str
    event: str
    detail: str | None  # e.g. FT_UNSPECIFIED


@dataclass(frozen=True)
class Fault:
    """A line that explains a fault: tx timestamp timeout, missing timestamps, clock jumps."""

    program: str | None
    time: float | None
    message: str


Event = Offset | Stats | PortStateChange | Fault


def parse_line(line: str) -> Event | None:
    """One log line as an event, or None for a line that is none of these."""
    match = _PREFIX.match(line.rstrip())
    if match is None:  # pragma: no cover - the pattern matches any line
        return None
    program = match.group("prog")
    stamp = match.group("a") if match.group("b") is None else match.group("b")
    time = float(stamp) if stamp else None
    msg = match.group("msg").strip()
    if m := _MASTER_OFFSET.match(msg):
        return Offset(
            program or "ptp4l",
            time,
            None,
            int(m["offset"]),
            int(m["servo"]),
            int(m["freq"]),
            int(m["delay"]),
        )
    if m := _PHC_OFFSET.match(msg):
        return Offset(
            program or "phc2sys",
            time,
            m["clock"],
            int(m["offset"]),
            int(m["servo"]),
            int(m["freq"]),
            int(m["delay"]) if m["delay"] else None,
        )
    if m := _SUMMARY.match(msg):
        return Stats(
            program,
            time,
            m["clock"],
            int(m["rms"]),
            int(m["max"]),
            int(m["delay"]) if m["delay"] else None,
        )
    if m := _STATE.match(msg):
        return PortStateChange(
            program or "ptp4l",
            time,
            int(m["port"]),
            m["iface"],
            m["before"],
            m["after"],
            m["event"],
            m["detail"],
        )
    if any(text in msg for text in FAULT_TEXTS):
        return Fault(program, time, msg)
    return None


def parse(text: str | Iterable[str]) -> list[Event]:
    """Every event of a log, in order."""
    lines = text.splitlines() if isinstance(text, str) else text
    return [e for e in (parse_line(line) for line in lines) if e is not None]


def locked_offsets(events: Iterable[Event], *, program: str | None = None) -> list[int]:
    """Offsets of servo updates in a locked state (s2, s3), optionally of one program."""
    return [
        e.offset_ns
        for e in events
        if isinstance(e, Offset)
        and e.servo_state >= 2
        and (program is None or e.program == program)
    ]
