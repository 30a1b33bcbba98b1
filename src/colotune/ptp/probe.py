"""Sampling ptp4l over a window, here or on a host, and the report a person reads.

Local sampling runs pmc once per interval; a remote window runs the same pmc in
a shell loop on the host (one SSH round trip) that heads each answer with
"@@ <seconds>", read back by `colotune.ptp.pmc.split_stream`.
"""

from __future__ import annotations

import math
import shlex
import subprocess
import time
from collections.abc import Callable
from typing import Any

from colotune.ptp import pmc
from colotune.ptp.window import Finding, Summary


def sample_local(
    uds: str,
    *,
    domain: int,
    window_s: float,
    interval_s: float,
    command: Callable[[list[str]], str] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> list[dict[str, Any]]:
    """Samples of the ptp4l behind `uds`, one per `interval_s`, for `window_s` seconds.

    At least one sample is taken. `command` runs pmc and returns its stdout
    (default: pmc here, 3 s timeout each).
    """
    run = command or _run_pmc
    argv = pmc.argv(uds, domain=domain)
    samples: list[dict[str, Any]] = []
    start = clock()
    deadline = start + window_s
    while True:
        started = clock()
        samples.append(pmc.sample(run(argv), round(started - start, 3)))
        if started + interval_s > deadline:
            break
        time.sleep(max(0.0, started + interval_s - clock()))
    return samples


def _run_pmc(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=3.0, check=False)
    except subprocess.TimeoutExpired:
        return ""
    return done.stdout


def remote_script(uds: str, *, domain: int, window_s: float, interval_s: float) -> str:
    """A POSIX shell loop that samples pmc on a host for `window_s` seconds (whole seconds)."""
    seconds = max(1, math.ceil(window_s))
    query = shlex.join(pmc.argv(uds, domain=domain))
    return (
        f'end=$(( $(date +%s) + {seconds} )); while :; do echo "@@ $(date +%s.%N)"; '
        f"{query} 2>/dev/null; [ $(date +%s) -lt $end ] || break; sleep {interval_s:g}; done"
    )


def samples_from_stream(text: str) -> list[dict[str, Any]]:
    """Samples from a remote loop's output, times relative to its first sample."""
    chunks = pmc.split_stream(text)
    t0 = chunks[0][0] if chunks else 0.0
    return [pmc.sample(out, round(t - t0, 3)) for t, out in chunks]


def _dist(d: Any, unit: str = "ns") -> str:
    if d is None:
        return "none measured"
    return f"P50 {d.p50:g}  P99 {d.p99:g}  max {d.max:g} {unit}  ({d.count} values)"


def render(summary: Summary, findings: list[Finding], *, title: str, max_offset_ns: float) -> str:
    """The window for people: distributions, state changes, Sync freshness, verdict."""
    s = summary
    lines = [
        title,
        f"  samples         {s.samples} over {s.duration_s:g} s, {s.answered} answered, "
        f"{s.fresh} with a new Sync",
        f"  port state      {s.first_state} -> {s.last_state}"
        + ("" if s.changes else " (no change)"),
        f"  |offset|        {_dist(s.offset_abs_ns)}",
    ]
    if s.offset_min_ns is not None:
        lines.append(f"  offset range    {s.offset_min_ns:g} .. {s.offset_max_ns:g} ns")
    lines += [
        f"  path delay      {_dist(s.path_delay_ns)}",
        f"  grandmaster     {s.gm_identity or '?'} (present: {s.gm_present})",
    ]
    if s.sync_age_s is not None:
        lines.append(
            f"  Sync            last {s.sync_age_s:g} s before the end, longest gap "
            f"{s.longest_sync_gap_s:g} s"
        )
    if s.changes:
        lines.append("  state changes:")
        lines += [f"    +{c.t:g} s  {c.before} -> {c.after}" for c in s.changes]
    if findings:
        lines.append(f"NO-GO (limit {max_offset_ns:g} ns):")
        lines += [f"  - [{f.code}] {f.message}" for f in findings]
    else:
        lines.append(f"GO: within {max_offset_ns:g} ns on P99 and max")
    return "\n".join(lines)
