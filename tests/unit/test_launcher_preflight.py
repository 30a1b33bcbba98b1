"""Preflight: the audit's controls and the launcher's own three facts, on real snapshots.

Snapshots come from the audit's collector run on this machine during the test
(a real kernel: 2 CPUs, nothing isolated, no 1 GiB pages, no Onload), so the
verdicts below are what this kernel really shows.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from colotune.launcher import config as lc
from colotune.launcher import preflight


@pytest.fixture(scope="module")
def snapshot() -> dict[str, Any]:
    before = os.sched_getaffinity(0)
    try:
        return preflight.collect("/")
    finally:
        os.sched_setaffinity(0, before)  # the collector pins its caller to housekeeping


def kernel_isolated() -> str:
    return Path("/sys/devices/system/cpu/isolated").read_text().strip()


def a_nic() -> str:
    return sorted(n for n in os.listdir("/sys/class/net") if n != "lo")[0]


def plan(isolated: str, threads: dict[str, int], **changes: Any) -> lc.PlanView:
    raw: dict[str, Any] = {
        "host": None,
        "housekeeping_cpus": "0",
        "isolated_cpus": isolated,
        "idle_cpus": "",
        "irq_cpus": "0",
        "numa_node": 0,
        "nic": {"name": a_nic(), "numa_node": 0, "pci_address": None, "driver": None},
        "hugepages": {},
        "hugepages_runtime": False,
        "kernel_args": [],
        "threads": threads,
        "explanations": [],
        **changes,
    }
    return lc.parse_plan(raw)


def config(**values: Any) -> lc.TraderConfig:
    return lc.parse_config({"engine": "/x", "profile": {"ptp_enabled": False}, **values})


def by_id(findings: list[preflight.Finding]) -> dict[str, preflight.Finding]:
    return {f.control: f for f in findings}


def test_cpus_the_kernel_does_not_isolate_fail_tun_002(snapshot: dict[str, Any]) -> None:
    if kernel_isolated():
        pytest.skip("this kernel isolates CPUs; the test expects a machine without isolcpus")
    found = by_id(preflight.evaluate(plan("1", {"t2t-hot": 1}), config(threads=[]), snapshot))
    assert found["TUN-002"].status == "fail"
    assert (found["TUN-002"].expected, found["TUN-002"].actual) == ("1", "none")
    assert found["LCH-001"].status == "pass"
    assert found["PTP-003"].status == "not_applicable"
    assert found["LCH-002"].status == found["LCH-003"].status == "not_applicable"


def test_a_plan_matching_this_kernel_passes(snapshot: dict[str, Any]) -> None:
    isolated = kernel_isolated()
    found = preflight.evaluate(plan(isolated, {}), config(threads=[]), snapshot)
    assert [f.explain() for f in found if not f.ok] == []


def test_missing_nic_free_pages_and_onload_fail_with_what_was_seen(
    snapshot: dict[str, Any],
) -> None:
    if Path("/sys/module/onload").exists():
        pytest.skip("Onload is loaded here")
    view = plan(kernel_isolated(), {}, nic={"name": "nosuch0", "numa_node": 0})
    found = by_id(preflight.evaluate(view, config(hugepages_free=64, onload=True), snapshot))
    assert found["LCH-001"].status == "fail"
    assert a_nic() in found["LCH-001"].actual
    assert found["LCH-002"].status == "fail"
    assert found["LCH-002"].expected == "at least 64 free on node 0"
    assert found["LCH-003"].status == "fail"
    assert "module not loaded" in found["LCH-003"].actual


def test_the_plans_own_pages_set_the_default_need(snapshot: dict[str, Any]) -> None:
    view = plan(kernel_isolated(), {}, hugepages={"0": {"1G": 1}})
    found = by_id(preflight.evaluate(view, config(), snapshot))
    free = Path(
        "/sys/devices/system/node/node0/hugepages/hugepages-1048576kB/free_hugepages"
    ).read_text()
    assert found["LCH-002"].status == ("pass" if int(free) >= 1 else "fail")
    assert found["TUN-006"].status == ("pass" if int(free) >= 1 else "fail")


def test_sched_fifo_needs_rt_throttling_off(snapshot: dict[str, Any]) -> None:
    runtime = Path("/proc/sys/kernel/sched_rt_runtime_us").read_text().strip()
    view = plan(kernel_isolated(), {})
    fifo = by_id(preflight.evaluate(view, config(sched_priority=50), snapshot))["TUN-028"]
    assert fifo.status == ("pass" if runtime == "-1" else "fail")
    assert (fifo.expected, fifo.actual) == (
        "kernel.sched_rt_runtime_us=-1",
        f"kernel.sched_rt_runtime_us={runtime}",
    )
    plain = by_id(preflight.evaluate(view, config(), snapshot))["TUN-028"]
    assert plain.status == "not_applicable"
    assert "sched_priority" in plain.message


def test_without_pydantic_preflight_fails_and_says_why(
    isolated_python: Callable[[str], str],
) -> None:
    code = (
        "import sys, json\n"
        "sys.modules['pydantic'] = None\n"
        "from colotune.launcher import config, preflight\n"
        "p = config.parse_plan({'host': None, 'housekeeping_cpus': '0', 'isolated_cpus': '',"
        " 'idle_cpus': '', 'irq_cpus': '0', 'numa_node': 0, 'nic': {'name': None},"
        " 'hugepages': {}, 'threads': {}})\n"
        "c = config.parse_config({'engine': '/x', 'threads': []})\n"
        "print(json.dumps([f.to_dict() for f in preflight.run(p, c)]))\n"
    )
    out = isolated_python(code)
    assert '"control": "LCH-000", "status": "fail"' in out
    assert "pydantic" in out
