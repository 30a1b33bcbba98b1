"""The pre-open drift audit: collect every host in parallel, judge every control, go or no-go."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass

from colotune.audit import fanout
from colotune.audit.evaluate import HostReport, exit_code, judge
from colotune.audit.waivers import Waiver
from colotune.inventory import InventoryHost
from colotune.profile import HostProfile

__all__ = ["AuditRun", "HostReport", "audit", "exit_code", "nic_args"]


@dataclass
class AuditRun:
    reports: list[HostReport]
    started: float
    seconds: float


def nic_args(profile: HostProfile) -> list[str]:
    """Collector options a host's profile implies: ethtool only on the NICs it names
    (trading NIC, PTP interface), pmc in its PTP domain."""
    nics = sorted({n for n in (profile.tuning_nic, profile.ptp_nic) if n})
    args = ["--nics", ",".join(nics)] if nics else []
    if profile.ptp_domain:
        args += ["--pmc-domain", str(profile.ptp_domain)]
    return args


def audit(
    hosts: list[InventoryHost],
    *,
    timeout: float = 20.0,
    window: float = 0.0,
    waivers: list[Waiver] | None = None,
    collector_args: list[str] | None = None,
    workers: int = 32,
    today: dt.date | None = None,
    on_done: Callable[[fanout.Outcome], None] | None = None,
) -> AuditRun:
    """Audit inventory hosts: one collector run each (in parallel), every control in-process.

    Each host has `timeout` seconds plus `window`, the seconds the collector measures for
    (--irq-window and --ptp-window), from when its connection starts."""
    started = time.time()
    clock = time.monotonic()
    outcomes = fanout.collect_all(
        {h.name: h.vars for h in hosts},
        args={h.name: [*(collector_args or []), *nic_args(h.profile)] for h in hosts},
        timeout=timeout,
        window=window,
        workers=workers,
        on_done=on_done,
    )
    day = today or dt.datetime.now(dt.UTC).date()
    reports: list[HostReport] = []
    for host in hosts:
        outcome = outcomes[host.name]
        if outcome.raw is None:
            reports.append(HostReport(host.name, error=outcome.error, seconds=outcome.seconds))
            continue
        report = judge(host.name, outcome.raw, host.profile, waivers=waivers or [], today=day)
        report.seconds = outcome.seconds
        reports.append(report)
    return AuditRun(reports, started, time.monotonic() - clock)
