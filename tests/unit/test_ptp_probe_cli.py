"""`colotune probe ptp`: argument handling and the report, without a daemon."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from colotune import cli
from colotune.commands import probe as probe_command
from colotune.ptp import probe, window

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ptp"


@pytest.mark.parametrize(
    ("text", "seconds"), [("30s", 30.0), ("2m", 120.0), ("500ms", 0.5), ("7", 7.0)]
)
def test_duration(text: str, seconds: float) -> None:
    assert probe_command.duration(text) == seconds


@pytest.mark.parametrize("text", ["", "0s", "-3s", "1h", "soon"])
def test_bad_duration_names_valid_forms(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="30s, 2m, 500ms"):
        probe_command.duration(text)


def test_local_needs_a_socket(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["probe", "ptp", "--local"]) == 2
    assert "--uds PATH" in capsys.readouterr().err


def test_a_host_is_needed(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["probe", "ptp"]) == 2
    assert "-l HOST" in capsys.readouterr().err


def test_local_probe_of_no_daemon_is_no_go(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli.main(
        ["probe", "ptp", "--local", "--uds", str(tmp_path / "none"), "--window", "100ms"]
    )
    out = capsys.readouterr().out
    assert code == 2
    assert "NO-GO" in out and "[no-answer]" in out


def test_report_shows_distributions_and_changes() -> None:
    samples = probe.samples_from_stream((FIXTURES / "pmc-stream-slave-gm-killed.txt").read_text())
    summary = window.summarize(samples)
    findings = window.judge(summary, role="client", max_offset_ns=10_000)
    text = probe.render(summary, findings, title="PTP probe of lab1", max_offset_ns=10_000)
    assert "|offset|        P50 228  P99 624  max 624 ns" in text
    assert "path delay      P50 2433  P99 2451  max 2451 ns" in text
    assert "+8.759 s  SLAVE -> LISTENING" in text
    assert "NO-GO" in text and "[sync-stale]" in text


def test_remote_script_is_bounded_in_time() -> None:
    script = probe.remote_script("/run/ptp4l-eth1", domain=3, window_s=2.5, interval_s=0.25)
    assert "+ 3 ))" in script and "-d 3" in script and "sleep 0.25" in script
