"""After a reboot: is the host locked to its PTP master and go, by the audit's own controls?

playbooks/reboot.yml runs the collector on the host it just rebooted and asks this
(through the `colotune_after_boot` filter) before the next host goes: every control is
judged as `colotune audit` judges it (`evaluate.judge`), and the answer lists what stops
the rollout, the PTP controls first (ptp4l running, locked, within the offset limit, the
only clock discipline). Waivers are not read here: a waived control stops a rollout too.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from colotune.audit.evaluate import judge
from colotune.profile import HostProfile


def problems(host: str, raw: dict[str, Any], profile: HostProfile, *, today: dt.date) -> list[str]:
    """What keeps `host` from rejoining the rollout; empty when it is locked and go."""
    report = judge(host, raw, profile, waivers=[], today=today)
    if report.error:
        return [f"no-go: {report.error}"]
    ptp = [f for f in report.failing if f.control.role_tag == "ptp"]
    rest = [f for f in report.failing if f.control.role_tag != "ptp"]
    return [f"PTP not locked: {f.result.explain()}" for f in ptp] + [
        f"audit no-go: {f.result.explain()}" for f in rest
    ]
