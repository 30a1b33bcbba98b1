"""Judging hosts: snapshot + profile -> plan -> every control -> a go / drift / no-go verdict."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Literal

from colotune import checks
from colotune.audit import waivers as waiver_mod
from colotune.checks.base import Control, Result
from colotune.errors import ColotuneError
from colotune.facts.snapshot import Snapshot
from colotune.host.topology import TopologyError
from colotune.plan import make_plan
from colotune.profile import HostProfile

Verdict = Literal["go", "drift", "no-go"]
# What a finding counts as once severity and waivers are applied.
Effective = Literal["pass", "fail", "not_applicable", "waived", "warning"]


@dataclass(frozen=True)
class Finding:
    control: Control
    result: Result
    effective: Effective
    waiver: str | None = None  # justification and expiry of the waiver that applied
    expired_waiver: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.result.to_dict(),
            "title": self.control.title,
            "guards": self.control.guards,
            "risk": self.control.risk,
            "role_tag": self.control.role_tag,
            "severity": self.control.severity,
            "effective": self.effective,
            "waiver": self.waiver,
            "expired_waiver": self.expired_waiver,
        }


@dataclass
class HostReport:
    host: str
    error: str | None = None  # unreachable, timed out, cannot plan
    findings: list[Finding] = field(default_factory=list)
    collector: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def verdict(self) -> Verdict:
        if self.error or any(f.effective == "fail" for f in self.findings):
            return "no-go"
        if any(f.effective in ("waived", "warning") for f in self.findings):
            return "drift"
        return "go"

    @property
    def failing(self) -> list[Finding]:
        return [f for f in self.findings if f.effective == "fail"]

    @property
    def drifting(self) -> list[Finding]:
        return [f for f in self.findings if f.effective in ("waived", "warning")]

    def reason(self) -> str:
        if self.error:
            return self.error
        bad = self.failing or self.drifting
        return ", ".join(f.control.id for f in bad) if bad else "all controls pass"

    def to_dict(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "verdict": self.verdict,
            "error": self.error,
            "seconds": round(self.seconds, 3),
            "collector_cpu_ms": self.collector.get("cpu_ms"),
            "findings": [f.to_dict() for f in self.findings],
        }


def judge(
    host: str,
    raw: dict[str, Any],
    profile: HostProfile,
    *,
    waivers: list[waiver_mod.Waiver],
    today: dt.date,
    only: list[str] | None = None,
) -> HostReport:
    """Every control on one host's snapshot, against the plan made from its own live topology."""
    try:
        snap = Snapshot(raw)
        plan = make_plan(snap.topology, profile, host=host)
    except (ColotuneError, TopologyError) as exc:
        return HostReport(
            host, error=f"cannot plan: {exc}", collector=dict(raw.get("collector") or {})
        )
    report = HostReport(host, collector=snap.collector)
    for control in checks.all_controls():
        if only and control.id not in only:
            continue
        result = control.check(plan, snap, profile)
        active, expired = waiver_mod.find(waivers, control.id, host, today)
        effective: Effective = result.status
        if result.status == "fail":
            if active is not None:
                effective = "waived"
            elif control.severity == "warning":
                effective = "warning"
        report.findings.append(
            Finding(
                control,
                result,
                effective,
                waiver=f"{active.justification} (until {active.expires})" if active else None,
                expired_waiver=(
                    f"{expired.justification} (expired {expired.expires})" if expired else None
                ),
            )
        )
    return report


def exit_code(reports: list[HostReport]) -> int:
    """0 all go; 1 drift only in waived or warning controls; 2 a failing control or lost host."""
    verdicts = {r.verdict for r in reports}
    if "no-go" in verdicts:
        return 2
    if "drift" in verdicts:
        return 1
    return 0
