"""The reboot play's post-boot gate: PTP locked and the audit's verdict, on snapshots."""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import facts_builder as fb
import pytest

from colotune.audit import after_boot

HOST = "ny4-test01"
TODAY = dt.date(2026, 12, 7)
FILTERS = Path(__file__).resolve().parents[2] / "plugins" / "filter" / "colotune.py"


def _filters() -> ModuleType:
    spec = importlib.util.spec_from_file_location("colotune_filters", FILTERS)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _problems(raw: dict[str, Any], **profile: Any) -> list[str]:
    return after_boot.problems(HOST, raw, fb.profile(**profile), today=TODAY)


def test_a_locked_tuned_host_goes_on() -> None:
    assert _problems(fb.tuned()) == []


@pytest.mark.parametrize(
    ("state", "control"),
    [("LISTENING", "PTP-003"), ("UNCALIBRATED", "PTP-003"), ("FAULTY", "PTP-003")],
)
def test_a_host_not_locked_stops_the_rollout(state: str, control: str) -> None:
    raw = fb.tuned()
    raw["ptp"]["samples"] = {"/run/ptp4l": [{"t": 1.0, "rc": 0, "out": fb.pmc_text(state=state)}]}
    found = _problems(raw)
    assert found and found[0].startswith(f"PTP not locked: {control} fail")


def test_an_offset_beyond_the_limit_stops_the_rollout() -> None:
    raw = fb.tuned()
    raw["ptp"]["samples"] = {"/run/ptp4l": [{"t": 1.0, "rc": 0, "out": fb.pmc_text(offset=5e6)}]}
    assert any(p.startswith("PTP not locked: PTP-005") for p in _problems(raw))


def test_ptp4l_not_running_stops_the_rollout() -> None:
    raw = fb.tuned()
    raw["daemons"] = [d for d in raw["daemons"] if d["comm"] != "ptp4l"]
    assert any(p.startswith("PTP not locked: PTP-001") for p in _problems(raw))


def test_without_ptp_only_the_verdict_counts() -> None:
    raw = fb.tuned()
    raw["ptp"] = {"pmc": False, "sockets": [], "samples": {}}
    assert _problems(raw, ptp_enabled=False) == []
    assert _problems(raw) != []


def test_a_no_go_host_stops_the_rollout() -> None:
    plan = fb.plan()
    raw = fb.tuned(plan)
    raw["files"]["sys/devices/system/cpu/isolated"] = "\n"
    found = _problems(raw)
    assert found and all(p.startswith("audit no-go: ") for p in found)
    assert any("TUN-002" in p for p in found)


def test_the_filter_builds_the_profile_from_the_host_variables() -> None:
    filters = _filters().FilterModule().filters()
    variables = {"tuning_nic": fb.NIC, "tuning_hugepages_1g": 2, "ansible_host": "x"}
    good = json.dumps(fb.tuned())
    assert filters["colotune_after_boot"](good, variables, HOST) == []
    raw = fb.tuned()
    raw["ptp"]["samples"] = {
        "/run/ptp4l": [{"t": 1.0, "rc": 0, "out": fb.pmc_text(state="FAULTY")}]
    }
    found = filters["colotune_after_boot"](json.dumps(raw), variables, HOST)
    assert found and found[0].startswith("PTP not locked: PTP-003")
