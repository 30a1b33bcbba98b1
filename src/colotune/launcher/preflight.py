"""Preflight: the controls that matter for the engine, judged on the host's effective state.

The launcher does not check the host itself: it takes one snapshot with the
audit's own collector (colotune.host.collector, standard library only) and
runs the audit's controls on it (colotune.checks), so that the launcher and
`colotune audit` can never disagree:

  TUN-002  isolated CPUs in effect (/sys/devices/system/cpu/isolated)
  TUN-006  1 GiB hugepages per NUMA node as planned
  PTP-003  PTP port state SLAVE, never FAULTY          (when ptp_enabled)
  PTP-005  offset from the master within the limit     (when ptp_enabled)
  TUN-028  RT throttling off                            (when sched_priority is set: the
           kernel would stop the busy-polling SCHED_FIFO threads 50 ms every second)
  LCH-001  the plan's NIC is present
  LCH-002  enough 1 GiB pages are free on the plan's node for the engine

One fact only the launcher can judge is checked here, not by a control:

  LCH-003  OpenOnload is present when the engine runs under it: the `onload` command is
           looked up on the launcher's own PATH (the one it will exec), which a snapshot
           cannot carry, and the module under the tree preflight reads (--root)

The controls need pydantic (the plan and profile models); roles/trader
installs it into the launcher's venv. Without it preflight fails with a
message saying so (LCH-000) rather than passing silently.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import asdict, dataclass
from typing import Any

from colotune.launcher.config import PlanView, TraderConfig

CONTROLS = ("TUN-002", "TUN-006", "PTP-003", "PTP-005")
FIFO_CONTROLS = ("TUN-028",)  # only when the planned threads run under SCHED_FIFO
LAUNCH_CONTROLS = ("LCH-001", "LCH-002")  # the engine's NIC and its free 1 GiB pages


@dataclass(frozen=True)
class Finding:
    """One preflight verdict: pass, fail or not_applicable, with expected and actual."""

    control: str
    status: str
    expected: str
    actual: str
    message: str

    @property
    def ok(self) -> bool:
        return self.status != "fail"

    def explain(self) -> str:
        return (
            f"{self.control} {self.status}: {self.message} "
            f"(expected {self.expected}; actual {self.actual})"
        )

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


def collect(root: str = "/") -> dict[str, Any]:
    """One snapshot of the host by the audit's collector (pins the caller to housekeeping)."""
    from colotune.host import collector

    return collector.collect(["--root", root])


def _controls(plan: PlanView, config: TraderConfig, snapshot: dict[str, Any]) -> list[Finding]:
    try:
        from colotune import checks
        from colotune.plan import Plan
    except ImportError as exc:
        return [
            Finding(
                "LCH-000",
                "fail",
                "the audit's controls importable",
                f"{type(exc).__name__}: {exc}",
                "the launcher's venv lacks the controls' dependencies (pydantic); redeploy it "
                "with roles/trader, or start with --force",
            )
        ]
    try:
        model = Plan.model_validate(plan.raw)
        profile = checks.default_profile(
            model, {**config.profile, "trader_hugepages_free": config.hugepages_free}
        )
    except ValueError as exc:
        first = str(exc).splitlines()
        return [
            Finding(
                "LCH-000",
                "fail",
                "a valid plan and profile",
                " ".join(first[:3]),
                "plan.json or the config's profile is not valid; redeploy with roles/trader",
            )
        ]
    found = []
    for control in (*CONTROLS, *FIFO_CONTROLS, *LAUNCH_CONTROLS):
        if control in FIFO_CONTROLS and not config.sched_priority:
            why = "not applicable: no SCHED_FIFO (sched_priority)"
            found.append(Finding(control, "not_applicable", "-", "-", why))
            continue
        result = checks.run(control, model, snapshot, profile)
        found.append(Finding(**{k: v for k, v in result.to_dict().items() if k != "notes"}))
    return found


def onload_present(config: TraderConfig, root: str = "/") -> Finding:
    """LCH-003: the onload command on this process's PATH and the module under root."""
    if not config.onload:
        return Finding(
            "LCH-003", "not_applicable", "-", "-", "not applicable: Onload not asked for"
        )
    binary = shutil.which("onload")
    module = os.path.isdir(os.path.join(root, "sys/module/onload"))
    actual = f"onload command {'found' if binary else 'missing'}, "
    actual += f"module {'loaded' if module else 'not loaded'}"
    if binary and module:
        return Finding("LCH-003", "pass", "onload command and module", actual, "Onload is ready.")
    return Finding(
        "LCH-003",
        "fail",
        "onload command and module",
        actual,
        "The engine is set to run under Onload; apply roles/onload (onload_enabled) first.",
    )


def evaluate(
    plan: PlanView, config: TraderConfig, snapshot: dict[str, Any], *, root: str = "/"
) -> list[Finding]:
    """Judge a snapshot with the controls, then check Onload on this process (LCH-003)."""
    return [*_controls(plan, config, snapshot), onload_present(config, root)]


def run(plan: PlanView, config: TraderConfig, *, root: str = "/") -> list[Finding]:
    return evaluate(plan, config, collect(root), root=root)
