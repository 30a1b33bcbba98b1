"""The engine-start controls (LCH-001, LCH-002) on hand-built snapshots."""

from __future__ import annotations

from typing import Any

import facts_builder as fb
import pytest

from colotune import checks

POOL = "sys/devices/system/node/node1/hugepages/hugepages-1048576kB"  # the NIC's node


def test_the_plans_nic_present_passes() -> None:
    plan = fb.plan()
    result = checks.run("LCH-001", plan, fb.tuned(plan), fb.profile())
    assert (result.status, result.expected, result.actual) == ("pass", fb.NIC, fb.NIC)


def test_a_missing_nic_fails_naming_the_interfaces_seen() -> None:
    plan = fb.plan()
    raw = fb.tuned(plan)
    raw["topology"]["links"].pop(f"sys/class/net/{fb.NIC}")
    raw["topology"]["links"]["sys/class/net/eno1"] = "../../devices/virtual/net/eno1"
    result = checks.run("LCH-001", plan, raw, fb.profile())
    assert result.status == "fail"
    assert result.actual == "eno1"
    assert f"The plan's NIC {fb.NIC} is not on this host" in result.message


def test_a_plan_without_nic_makes_lch_001_not_applicable() -> None:
    where = {"tuning_nic": None, "tuning_numa_node": 1}
    plan = fb.plan(**where)
    result = checks.run("LCH-001", plan, fb.tuned(plan), fb.profile(**where))
    assert result.status == "not_applicable"
    assert result.message == "not applicable: plan names no NIC"


def _before_start(plan: Any) -> dict[str, Any]:
    """A tuned host's snapshot with the engine not started yet (none of its threads)."""
    raw = fb.tuned(plan)
    tasks = raw["tasks"]["list"]
    raw["tasks"]["list"] = [t for t in tasks if t["comm"] not in plan.threads]
    return raw


@pytest.mark.parametrize(
    ("free", "overrides", "status", "actual"),
    [
        ("2\n", {}, "pass", "2"),  # default need: 1, as the plan reserves pages on node 1
        ("0\n", {}, "fail", "0 free"),
        (None, {}, "fail", "no 1 GiB pool on that node"),
        ("2\n", {"trader_hugepages_free": 2}, "pass", "2"),
        ("1\n", {"trader_hugepages_free": 2}, "fail", "1 free"),
    ],
)
def test_free_1g_pages_on_the_plans_node(
    free: str | None, overrides: dict[str, Any], status: str, actual: str
) -> None:
    plan = fb.plan()
    raw = _before_start(plan)
    raw["files"].pop(f"{POOL}/nr_hugepages")
    raw["files"].pop(f"{POOL}/free_hugepages")
    if free is not None:
        raw["files"][f"{POOL}/free_hugepages"] = free
    result = checks.run("LCH-002", plan, raw, fb.profile(**overrides))
    need = overrides.get("trader_hugepages_free", 1)
    assert (result.status, result.expected, result.actual) == (
        status,
        f"at least {need} free on node 1",
        actual,
    )


def test_no_page_needed_makes_lch_002_not_applicable() -> None:
    plan = fb.plan(tuning_hugepages_1g=0)
    result = checks.run("LCH-002", plan, fb.tuned(plan), fb.profile(tuning_hugepages_1g=0))
    assert result.status == "not_applicable"
    assert result.message == "not applicable: the engine needs no 1 GiB page"
    asked = checks.run("LCH-002", plan, _before_start(plan), fb.profile(trader_hugepages_free=1))
    assert (asked.status, asked.actual) == ("fail", "0 free")


def test_a_running_engine_holds_its_pages_and_lch_002_is_not_judged() -> None:
    # the pre-open audit of a host whose engine already runs: its pages are in use, not free
    plan = fb.plan()
    raw = fb.tuned(plan)
    raw["files"][f"{POOL}/free_hugepages"] = "0\n"
    result = checks.run("LCH-002", plan, raw, fb.profile())
    assert result.status == "not_applicable"
    assert "the engine is running (t2t-hot); its pages are in use" in result.message
    before = _before_start(plan)
    before["files"][f"{POOL}/free_hugepages"] = "0\n"
    stopped = checks.run("LCH-002", plan, before, fb.profile())
    assert (stopped.status, stopped.actual) == ("fail", "0 free")
