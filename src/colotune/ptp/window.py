"""A window of pmc samples: distributions, port-state changes, Sync freshness, and a verdict.

Samples are the flat dicts of `colotune.ptp.pmc.sample` (or the collector's
parsed pmc samples: the same keys). A sample counts as a fresh measurement only
when its ingress_time (receive time of the last Sync) moved: pmc polled faster
than Sync arrives repeats the last offset, and a client whose master vanished
keeps reporting its last offset forever; counting those would judge stale
numbers. Without ingress times (an answer without TIME_STATUS_NP) every
answered sample counts.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

from colotune.ptp.pmc import CLIENT_STATES, MASTER_STATES

Role = Literal["client", "grandmaster"]


@dataclass(frozen=True)
class Distribution:
    """P50, P99 and max of a set of values (nearest-rank percentiles), with their count."""

    count: int
    p50: float
    p99: float
    max: float
    min: float

    @classmethod
    def of(cls, values: Iterable[float]) -> Distribution | None:
        ordered = sorted(values)
        if not ordered:
            return None
        return cls(
            count=len(ordered),
            p50=percentile(ordered, 50),
            p99=percentile(ordered, 99),
            max=ordered[-1],
            min=ordered[0],
        )


def percentile(ordered: Sequence[float], p: float) -> float:
    """Nearest-rank percentile of sorted values: the smallest value with p% at or below it."""
    if not ordered:
        raise ValueError("percentile of no values")
    if not 0 < p <= 100:
        raise ValueError(f"percentile {p} is outside (0, 100]")
    rank = math.ceil(p / 100 * len(ordered))
    return ordered[max(rank, 1) - 1]


@dataclass(frozen=True)
class StateChange:
    t: float  # seconds since the window's first sample
    before: str | None  # None: ptp4l did not answer
    after: str | None


@dataclass(frozen=True)
class Summary:
    """What a window of samples shows."""

    duration_s: float
    samples: int
    answered: int
    fresh: int  # samples carrying a new measurement (a new Sync arrived)
    offset_abs_ns: Distribution | None  # |offsetFromMaster| of fresh samples in a client state
    offset_min_ns: float | None  # signed extremes of the same samples
    offset_max_ns: float | None
    path_delay_ns: Distribution | None  # meanPathDelay of the same samples
    first_state: str | None
    last_state: str | None
    changes: tuple[StateChange, ...]
    faulty_seen: bool
    gm_present: bool | None  # the last answer's TIME_STATUS_NP gmPresent
    gm_identity: str | None
    clock_identity: str | None
    sync_age_s: float | None  # time since the last fresh Sync at the window's end
    longest_sync_gap_s: float | None
    log_sync_interval: int | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def summarize(samples: Sequence[Mapping[str, Any]]) -> Summary:
    """Distributions and events of a window of samples, ordered by time.

    A sample without ingress_time_ns (pmc asked without TIME_STATUS_NP) counts as
    fresh, since freshness cannot be told; Sync age is judged only when the last
    answer carries an ingress time.
    """
    ordered = sorted(samples, key=lambda s: float(s["t"]))
    t0 = float(ordered[0]["t"]) if ordered else 0.0
    offsets: list[float] = []
    delays: list[float] = []
    changes: list[StateChange] = []
    state: str | None = None
    first_state: str | None = None
    faulty = False
    fresh_count = 0
    previous_ingress: int | None = None
    last_sync_t: float | None = None  # when an ingress time last moved
    gap = 0.0
    for index, s in enumerate(ordered):
        t = float(s["t"]) - t0
        answered = bool(s.get("answered", True))
        now: str | None = s.get("port_state") if answered else None
        if index == 0:
            first_state = now
        elif now != state:
            changes.append(StateChange(t=round(t, 3), before=state, after=now))
        state = now
        faulty = faulty or now == "FAULTY"
        if not answered:
            continue
        ingress = s.get("ingress_time_ns")
        if ingress is None:
            fresh = True
        else:
            fresh = bool(ingress) and ingress != previous_ingress
            previous_ingress = ingress
            if fresh:
                gap = max(gap, t - last_sync_t if last_sync_t is not None else 0.0)
                last_sync_t = t
        if not fresh:
            continue
        fresh_count += 1
        if now in CLIENT_STATES:
            if s.get("offset_ns") is not None:
                offsets.append(float(s["offset_ns"]))
            if s.get("path_delay_ns") is not None:
                delays.append(float(s["path_delay_ns"]))
    duration = float(ordered[-1]["t"]) - t0 if ordered else 0.0
    answered_samples = [s for s in ordered if s.get("answered", True)]
    last = answered_samples[-1] if answered_samples else None
    sync_age: float | None = None
    longest: float | None = None
    if last is not None and last.get("ingress_time_ns") is not None:
        sync_age = duration - last_sync_t if last_sync_t is not None else duration
        longest = max(gap, sync_age)
    return Summary(
        duration_s=round(duration, 3),
        samples=len(ordered),
        answered=len(answered_samples),
        fresh=fresh_count,
        offset_abs_ns=Distribution.of(abs(v) for v in offsets),
        offset_min_ns=min(offsets) if offsets else None,
        offset_max_ns=max(offsets) if offsets else None,
        path_delay_ns=Distribution.of(delays),
        first_state=first_state,
        last_state=state,
        changes=tuple(changes),
        faulty_seen=faulty,
        gm_present=last.get("gm_present") if last else None,
        gm_identity=last.get("gm_identity") if last else None,
        clock_identity=last.get("clock_identity") if last else None,
        sync_age_s=None if sync_age is None else round(sync_age, 3),
        longest_sync_gap_s=None if longest is None else round(longest, 3),
        log_sync_interval=last.get("log_sync_interval") if last else None,
    )


@dataclass(frozen=True)
class Finding:
    """One reason a window is not acceptable: a stable code and a sentence to act on."""

    code: str  # no-answer, port-state, faulty, left-slave, no-grandmaster, sync-stale,
    # no-offsets, offset-p99, offset-max
    message: str


def default_sync_gap_s(log_sync_interval: int | None) -> float:
    """How long without a new Sync counts as lost: 4 Sync intervals, at least 1 s."""
    interval = 2.0 ** (log_sync_interval if log_sync_interval is not None else 0)
    return max(4 * interval, 1.0)


def judge(
    summary: Summary,
    *,
    role: Role,
    max_offset_ns: float,
    max_sync_gap_s: float | None = None,
) -> list[Finding]:
    """Why a window fails for a port in `role`; an empty list means it passes.

    A client must be SLAVE at the end and never FAULTY, keep a grandmaster, keep
    receiving Sync (no gap longer than `max_sync_gap_s`: a client without Sync is
    in holdover), and keep |offsetFromMaster| within `max_offset_ns` on both P99
    (sustained) and max (spikes). A grandmaster's port must be MASTER and never FAULTY.
    """
    findings: list[Finding] = []
    if summary.answered == 0:
        return [
            Finding(
                "no-answer",
                "ptp4l did not answer pmc (not running, another UDS socket, or another domain)",
            )
        ]
    if summary.faulty_seen:
        when = next((c.t for c in summary.changes if c.after == "FAULTY"), 0.0)
        findings.append(
            Finding("faulty", f"the port went FAULTY (at +{when:g} s); see ptp4l's log for why")
        )
    if role == "grandmaster":
        if summary.last_state not in MASTER_STATES:
            findings.append(
                Finding(
                    "port-state",
                    f"port state {summary.last_state}, expected MASTER for a grandmaster",
                )
            )
        return findings
    if summary.last_state != "SLAVE":
        findings.append(Finding("port-state", f"port state {summary.last_state}, expected SLAVE"))
    left = [c for c in summary.changes if c.before == "SLAVE"]
    if left:
        first = left[0]
        findings.append(
            Finding("left-slave", f"the port left SLAVE for {first.after} at +{first.t:g} s")
        )
    if summary.gm_present is False:
        findings.append(Finding("no-grandmaster", "TIME_STATUS_NP reports no grandmaster"))
    limit = (
        max_sync_gap_s
        if max_sync_gap_s is not None
        else default_sync_gap_s(summary.log_sync_interval)
    )
    if summary.sync_age_s is not None and summary.sync_age_s > limit:
        findings.append(
            Finding(
                "sync-stale",
                f"no Sync from the master for {summary.sync_age_s:g} s (limit {limit:g} s): "
                "the clock is in holdover",
            )
        )
    dist = summary.offset_abs_ns
    if dist is None:
        findings.append(Finding("no-offsets", "no fresh offset measured in the window"))
        return findings
    if dist.p99 > max_offset_ns:
        findings.append(
            Finding(
                "offset-p99",
                f"offset P99 {dist.p99:g} ns exceeds {max_offset_ns:g} ns "
                f"({dist.count} measurements)",
            )
        )
    if dist.max > max_offset_ns:
        findings.append(
            Finding("offset-max", f"offset max {dist.max:g} ns exceeds {max_offset_ns:g} ns")
        )
    return findings
