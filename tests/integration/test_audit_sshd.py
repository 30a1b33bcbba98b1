"""The audit and the testinfra suite against a real sshd on loopback: they agree control by
control, and an unreachable host is a no-go within its timeout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import yaml

from colotune import checks
from colotune.facts import collect, live_topology
from colotune.host import topology
from sshd_endpoints import LoopbackSshd, free_ports

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
TIMEOUT = 8.0


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Any:
    server = LoopbackSshd(tmp_path_factory.mktemp("sshd"), ports=2).start()
    yield server
    server.stop()
    assert not server.running


@pytest.fixture(scope="module")
def inventory(sshd: LoopbackSshd, tmp_path_factory: pytest.TempPathFactory) -> Path:
    nic = sorted(topology.read(topology.SysfsTree("/")).nics)[0]
    profile = {"tuning_nic": nic, "ptp_enabled": False}
    hosts = {f"loop{i}": {**sshd.host_vars(i, name=f"loop{i}"), **profile} for i in range(2)}
    gone = sshd.host_vars(0, name="gone")
    gone["ansible_port"] = free_ports(1)[0]  # nothing listens there
    hosts["gone"] = {**gone, **profile}
    folder = tmp_path_factory.mktemp("inventory")
    path = folder / "hosts.yml"
    path.write_text(yaml.safe_dump({"all": {"children": {"lab": {"hosts": hosts}}}}))
    return path


@pytest.fixture(scope="module")
def waivers(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("waivers") / "loop.yml"
    path.write_text(
        yaml.safe_dump(
            {
                "waivers": [
                    {
                        "control": "TUN-017",
                        "hosts": ["loop0"],
                        "expires": "2099-01-01",
                        "justification": "THP is owned by the base image on loop0 for now",
                    },
                    {
                        "control": "TUN-017",
                        "hosts": ["loop1"],
                        "expires": "2020-01-01",
                        "justification": "expired: must not apply any more",
                    },
                ]
            }
        )
    )
    return path


def env() -> dict[str, str]:
    return {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}"}


@pytest.fixture(scope="module")
def audit(inventory: Path, waivers: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("audit")
    started = time.monotonic()
    done = subprocess.run(
        [
            str(BIN / "colotune"),
            "audit",
            "-i",
            str(inventory),
            "-l",
            "lab",
            "--json",
            "--timeout",
            str(TIMEOUT),
            "--waivers",
            str(waivers),
            "--junit",
            str(out / "a.xml"),
            "--html",
            str(out / "a.html"),
            "--prom",
            str(out / "a.prom"),
            "--history",
            str(out / "history.jsonl"),
        ],
        capture_output=True,
        text=True,
        env=env(),
        timeout=120,
        check=False,
    )
    elapsed = time.monotonic() - started
    doc = json.loads(done.stdout)
    return {
        "rc": done.returncode,
        "doc": doc,
        "elapsed": elapsed,
        "out": out,
        "stderr": done.stderr,
    }


def test_unreachable_host_is_a_no_go_within_the_timeout(audit: dict) -> None:
    hosts = {h["host"]: h for h in audit["doc"]["hosts"]}
    assert hosts["gone"]["verdict"] == "no-go"
    assert "unreachable" in hosts["gone"]["error"]
    assert audit["rc"] == 2
    assert audit["elapsed"] < TIMEOUT + 30  # CLI start-up (ansible inventory) plus the timeout


def test_reachable_hosts_are_judged_on_every_control(audit: dict) -> None:
    ids = {c.id for c in checks.all_controls()}
    for name in ("loop0", "loop1"):
        host = next(h for h in audit["doc"]["hosts"] if h["host"] == name)
        assert host["error"] is None
        assert {f["control"] for f in host["findings"]} == ids
        assert host["collector_cpu_ms"] > 0
        collector_ran_pinned = next(f for f in host["findings"] if f["control"] == "TUN-026")
        assert collector_ran_pinned["status"] in ("pass", "fail")


def test_waivers_apply_until_they_expire(audit: dict) -> None:
    hosts = {
        h["host"]: {f["control"]: f for f in h["findings"]}
        for h in audit["doc"]["hosts"]
        if h["error"] is None
    }
    if hosts["loop0"]["TUN-017"]["status"] != "fail":
        pytest.skip("THP is already never on this machine: nothing to waive")
    assert hosts["loop0"]["TUN-017"]["effective"] == "waived"
    assert hosts["loop1"]["TUN-017"]["effective"] == "fail"
    assert "expired 2020-01-01" in hosts["loop1"]["TUN-017"]["expired_waiver"]


def test_reports_are_written(audit: dict) -> None:
    out: Path = audit["out"]
    junit = ET.parse(out / "a.xml").getroot()
    assert {s.get("name") for s in junit.iter("testsuite")} == {"loop0", "loop1", "gone"}
    page = (out / "a.html").read_text()
    assert "loop0" in page and "unreachable" in page and "<html>" in page
    prom = (out / "a.prom").read_text()
    assert 'colotune_audit_host_go{host="gone",verdict="no-go"} 0' in prom
    assert "colotune_audit_duration_seconds" in prom
    history = (out / "history.jsonl").read_text().splitlines()
    assert json.loads(history[-1])["hosts"]["gone"]["verdict"] == "no-go"


def _junit_outcomes(path: Path) -> dict[tuple[str, str], str]:
    """(host, control) -> ok / fail / skip from the validators' JUnit XML."""
    outcomes: dict[tuple[str, str], str] = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        props = {p.get("name"): p.get("value") for p in case.iter("property")}
        if "control" not in props:
            continue
        if case.find("failure") is not None or case.find("error") is not None:
            outcome = "fail"
        elif case.find("skipped") is not None:
            outcome = "skip"
        else:
            outcome = "ok"
        outcomes[(props["host"], props["control"])] = outcome
    return outcomes


def test_testinfra_suite_agrees_with_the_audit(
    audit: dict, inventory: Path, waivers: Path, tmp_path: Path
) -> None:
    junit = tmp_path / "validators.xml"
    done = subprocess.run(
        [
            str(BIN / "pytest"),
            str(REPO / "validators"),
            "--hosts=ansible://loop0,ansible://loop1",
            f"--ansible-inventory={inventory}",
            f"--waivers={waivers}",
            f"--junitxml={junit}",
            "-q",
        ],
        capture_output=True,
        text=True,
        env=env(),
        cwd=REPO,
        timeout=300,
        check=False,
    )
    assert junit.exists(), done.stdout[-3000:] + done.stderr[-3000:]
    suite = _junit_outcomes(junit)
    mapping = {
        "pass": "ok",
        "fail": "fail",
        "not_applicable": "skip",
        "waived": "skip",
        "warning": "skip",
    }
    expected = {
        (h["host"], f["control"]): mapping[f["effective"]]
        for h in audit["doc"]["hosts"]
        if h["error"] is None
        for f in h["findings"]
    }
    assert set(suite) == set(expected)
    disagree = {k: (expected[k], suite[k]) for k in expected if expected[k] != suite[k]}
    assert not disagree, f"audit vs testinfra: {disagree}"
    assert done.returncode == (1 if "fail" in suite.values() else 0)


def test_collect_gives_the_live_topology_for_plan(sshd: LoopbackSshd) -> None:
    raw = collect(sshd.host_vars(1), timeout=TIMEOUT)
    remote_topology = topology.from_snapshot(raw["topology"])
    here = topology.read(topology.SysfsTree("/"))
    assert live_topology(sshd.host_vars(1), timeout=TIMEOUT).cpus == remote_topology.cpus
    assert sorted(remote_topology.cpus) == sorted(here.cpus)
    assert sorted(remote_topology.nics) == sorted(here.nics)


def test_plan_of_a_live_inventory_host_over_ssh(inventory: Path) -> None:
    """`colotune plan -l HOST` without --sysfs-root reads the live host over SSH."""
    here = subprocess.run(
        [
            str(BIN / "colotune"),
            "plan",
            "--json",
            "-i",
            str(inventory),
            "-l",
            "loop0",
            "--sysfs-root",
            "/",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    live = subprocess.run(
        [str(BIN / "colotune"), "plan", "--json", "-i", str(inventory), "-l", "loop0"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert json.loads(live.stdout) == json.loads(here.stdout)
    table = subprocess.run(
        [str(BIN / "colotune"), "plan", "-i", str(inventory), "-l", "loop0"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert "(ssh://loop0)" in table.stdout
