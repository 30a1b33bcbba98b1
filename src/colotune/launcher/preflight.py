"""Preflight: the controls that matter for the engine, judged on the host's effective state.

The launcher does not check the host itself: it takes one snapshot with the
audit's own collector (colotune.facts.collector, standard library only) and
runs the audit's controls on it (colotune.checks), so that the launcher and
`colotune audit` can never disagree:

  TUN-002  isolated CPUs in effect (/sys/devices/system/cpu/isolated)
  TUN-006  1 GiB hugepages per NUMA node as planned
  PTP-003  PTP port state SLAVE, never FAULTY          (when ptp_enabled)
  PTP-005  offset from the master within the limit     (when ptp_enabled)
  TUN-028  RT throttling off                            (when sched_priority is set: the
           kernel would stop the busy-polling SCHED_FIFO threads 50 ms every second)

Three facts only the launcher asks about are judged here, on the same snapshot:

  LCH-001  the plan's NIC is present
  LCH-002  enough 1 GiB pages are free on the plan's node for the engine
  LCH-003  OpenOnload is present when the engine runs under it

The controls need pydantic (the plan and profile models); roles/trader
installs it into the launcher's venv. Without it preflight fails with a
message saying so (LCH-000) rather than passing silently.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from typing import Any

from colotune.launcher.config import PlanView, TraderConfig

CONTROLS = ("TUN-002", "TUN-006", "PTP-003", "PTP-005")
FIFO_CONTROLS = ("TUN-028",)  # only when the planned threads run under SCHED_FIFO
PAGE_1G = "hugepages-1048576kB"


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
        return {
            "control": self.control,
            "status": self.status,
            "expected": self.expected,
            "actual": self.actual,
            "message": self.message,
        }


def collect(root: str = "/") -> dict[str, Any]:
    """One snapshot of the host by the audit's collector (pins the caller to housekeeping)."""
    from colotune.facts import collector

    return collector.collect(["--root", root])


def _controls(plan: PlanView, config: TraderConfig, snapshot: dict[str, Any]) -> list[Finding]:
    try:
        from colotune import checks
        from colotune.plan import Plan
        from colotune.profile import HostProfile
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
        where: dict[str, Any] = (
            {"tuning_nic": plan.nic} if plan.nic else {"tuning_numa_node": plan.numa_node}
        )
        profile = HostProfile.model_validate({**where, **config.profile})
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
    for control in (*CONTROLS, *FIFO_CONTROLS):
        if control in FIFO_CONTROLS and not config.sched_priority:
            why = "not applicable: no SCHED_FIFO (sched_priority)"
            found.append(Finding(control, "not_applicable", "-", "-", why))
            continue
        result = checks.run(control, model, snapshot, profile)
        found.append(Finding(**{k: v for k, v in result.to_dict().items() if k != "notes"}))
    return found


def _files(snapshot: dict[str, Any]) -> dict[str, Any]:
    files = snapshot.get("files")
    return files if isinstance(files, dict) else {}


def nic_present(plan: PlanView, snapshot: dict[str, Any]) -> Finding:
    if not plan.nic:
        return Finding("LCH-001", "not_applicable", "-", "-", "not applicable: plan names no NIC")
    topo = snapshot.get("topology") or {}
    links = topo.get("links") or {}
    dirs = topo.get("dirs") or {}
    names = sorted(
        {path.rsplit("/", 1)[1] for path in [*links, *dirs] if path.startswith("sys/class/net/")}
    )
    if plan.nic in names:
        return Finding("LCH-001", "pass", plan.nic, plan.nic, "The trading NIC is present.")
    return Finding(
        "LCH-001",
        "fail",
        plan.nic,
        ", ".join(names) or "no interfaces",
        f"The plan's NIC {plan.nic} is not on this host; check the cabling/driver or replan.",
    )


def hugepages_free(plan: PlanView, config: TraderConfig, snapshot: dict[str, Any]) -> Finding:
    need = config.hugepages_free
    if need is None:
        need = 1 if plan.hugepages_on_node > 0 else 0
    if need == 0:
        return Finding(
            "LCH-002", "not_applicable", "-", "-", "not applicable: the engine needs no 1 GiB page"
        )
    rel = f"sys/devices/system/node/node{plan.numa_node}/hugepages/{PAGE_1G}/free_hugepages"
    text = _files(snapshot).get(rel)
    free = int(text) if isinstance(text, str) and text.strip().isdigit() else 0
    expected = f"at least {need} free on node {plan.numa_node}"
    if free >= need:
        return Finding(
            "LCH-002", "pass", expected, str(free), "1 GiB pages are free for the engine."
        )
    return Finding(
        "LCH-002",
        "fail",
        expected,
        f"{free} free" if text is not None else "no 1 GiB pool on that node",
        "Another process holds the engine's 1 GiB pages, or none were reserved; find it "
        "(grep HugePages /proc/*/status) or rerun roles/tuning.",
    )


def onload_present(config: TraderConfig, root: str = "/") -> Finding:
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
    """Judge a snapshot: the audit's controls, then the launcher's own three facts."""
    return [
        *_controls(plan, config, snapshot),
        nic_present(plan, snapshot),
        hugepages_free(plan, config, snapshot),
        onload_present(config, root),
    ]


def run(plan: PlanView, config: TraderConfig, *, root: str = "/") -> list[Finding]:
    return evaluate(plan, config, collect(root), root=root)
