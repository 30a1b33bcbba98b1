"""The audit's judgement and outputs on hand-built snapshots: verdicts, exit codes, waivers,
JUnit, HTML, Prometheus textfile, history."""

from __future__ import annotations

import datetime as dt
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import facts_builder as fb
import pytest

from colotune.audit import history, outputs
from colotune.audit import waivers as waiver_mod
from colotune.audit.evaluate import HostReport, exit_code, judge
from colotune.errors import ColotuneError

TODAY = dt.date(2026, 11, 23)


def report(
    raw: dict | None = None,
    *,
    waivers: list | None = None,
    host: str = "ny4-test01",
    **overrides: object,
) -> HostReport:
    return judge(
        host,
        raw or fb.tuned(fb.plan(**overrides)),
        fb.profile(**overrides),
        waivers=waivers or [],
        today=TODAY,
    )


def drifted(**files: str) -> dict:
    raw = fb.tuned()
    raw["files"].update(files)
    return raw


def test_tuned_host_is_go() -> None:
    good = report()
    assert good.verdict == "go", [f.result.explain() for f in good.failing]
    assert exit_code([good]) == 0


def test_failing_control_is_no_go() -> None:
    bad = report(drifted(**{"sys/kernel/mm/transparent_hugepage/enabled": "[always] never\n"}))
    assert bad.verdict == "no-go"
    assert [f.control.id for f in bad.failing] == ["TUN-017"]
    assert exit_code([report(), bad]) == 2


def test_warning_control_is_drift() -> None:
    warn = report(drifted(**{"proc/sys/kernel/timer_migration": "1\n"}))
    assert warn.verdict == "drift"
    assert exit_code([warn]) == 1


def waiver(control: str, expires: str, hosts: list[str] | None = None) -> waiver_mod.Waiver:
    return waiver_mod.Waiver.model_validate(
        {
            "control": control,
            "hosts": hosts or ["ny4-*"],
            "expires": expires,
            "justification": "accepted until the next maintenance window",
        }
    )


def test_waiver_turns_a_failure_into_drift_until_it_expires() -> None:
    raw = drifted(**{"sys/kernel/mm/transparent_hugepage/enabled": "[always] never\n"})
    waived = report(raw, waivers=[waiver("TUN-017", "2026-12-01")])
    assert waived.verdict == "drift"
    assert waived.drifting[0].waiver.endswith("(until 2026-12-01)")
    expired = report(raw, waivers=[waiver("TUN-017", "2026-11-22")])
    assert expired.verdict == "no-go"
    assert "expired 2026-11-22" in expired.failing[0].expired_waiver
    other_host = report(raw, waivers=[waiver("TUN-017", "2026-12-01", ["ny5-*"])])
    assert other_host.verdict == "no-go"


def test_waiver_file_errors(tmp_path: Path) -> None:
    path = tmp_path / "lab.yml"
    path.write_text("waivers:\n  - control: TUN-7\n    justification: short\n")
    with pytest.raises(ColotuneError, match="not a control ID") as info:
        waiver_mod.load(path)
    assert "expires" in str(info.value)
    assert waiver_mod.load(None) == []
    repo_waivers = Path(__file__).resolve().parents[2] / "validators" / "waivers" / "lab.yml"
    assert waiver_mod.load(repo_waivers) == []  # valid, and empty: the lab passes as tuned


def test_plan_error_is_a_no_go_with_the_reason() -> None:
    raw = fb.tuned()
    bad = judge("h", raw, fb.profile(tuning_nic="eth9"), waivers=[], today=TODAY)
    assert bad.verdict == "no-go"
    assert "cannot plan" in bad.error and "eth9" in bad.error


def test_outputs(tmp_path: Path) -> None:
    reports = [
        report(),
        report(drifted(**{"proc/sys/vm/stat_interval": "1\n"}), host="ny4-test02"),
        report(drifted(**{"sys/kernel/mm/ksm/run": "1\n"}), host="ny4-test03"),
        HostReport("ny4-gone", error="unreachable (Connection refused)", seconds=5.0),
    ]
    text = outputs.table(reports)
    assert "ny4-gone    NO-GO    unreachable (Connection refused)" in text
    assert "TUN-018 Kernel samepage merging off: expected 0; actual 1." in text
    assert "TUN-022 [warning]" in text
    assert "4 host(s): 1 go, 1 drift, 2 no-go" in text

    outputs.write_junit(tmp_path / "a.xml", reports, seconds=3.0)
    root = ET.parse(tmp_path / "a.xml").getroot()
    suites = {s.get("name"): s for s in root.iter("testsuite")}
    assert suites["ny4-test03"].get("failures") == "1"
    assert suites["ny4-gone"].get("errors") == "1"

    outputs.write_html(tmp_path / "a.html", reports, started=0.0, seconds=3.0)
    page = (tmp_path / "a.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and "<script" not in page and "http" not in page
    assert "ny4-gone" in page and "TUN-018" in page

    outputs.write_prom(tmp_path / "a.prom", reports, seconds=3.0, now=1.0)
    prom = (tmp_path / "a.prom").read_text()
    assert 'colotune_audit_control_ok{host="ny4-test03",control="TUN-018",status="fail",' in prom
    assert 'colotune_audit_host_go{host="ny4-test01",verdict="go"} 1' in prom
    assert 'colotune_audit_host_reachable{host="ny4-gone"} 0' in prom
    assert "colotune_audit_duration_seconds 3.000" in prom
    assert "colotune_audit_run_ok 1" in prom
    assert not list(tmp_path.glob(".a.prom.*"))  # written atomically, no temp left

    doc = outputs.document(reports, started=0.0, seconds=3.0)
    assert doc["exit_code"] == 2
    json.dumps(doc)


def test_history_since_last(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    first = [report()]
    history.append(path, history.entry(first, started="2026-11-23T08:00:00Z", pattern="ny4"))
    second = [report(drifted(**{"sys/kernel/mm/ksm/run": "1\n"}))]
    lines = history.changes(history.last_seen(path, ["ny4-test01"]), second)
    assert lines == [
        "ny4-test01: verdict go -> no-go; TUN-018 pass -> fail (since 2026-11-23T08:00:00Z)"
    ]
    assert history.changes({}, second) == ["ny4-test01: first audit (no-go)"]


def test_history_location(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(history.ENV, str(tmp_path / "x.jsonl"))
    assert history.default_path() == tmp_path / "x.jsonl"
    monkeypatch.delenv(history.ENV)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    assert history.default_path() == tmp_path / "colotune" / "audit-history.jsonl"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["-l", "no-such-host"], "no host in inventory"),
    ],
)
def test_audit_command_bad_input(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from colotune.cli import main

    inventory = str(Path(__file__).resolve().parents[2] / "inventory")
    assert main(["audit", "-i", inventory, *argv]) == 2
    assert message in capsys.readouterr().err
