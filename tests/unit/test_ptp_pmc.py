"""pmc answers recorded from real ptp4l runs (tests/fixtures/ptp/README.md) as samples."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from colotune.ptp import pmc, probe

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ptp"


def _sample(name: str) -> dict[str, object]:
    return pmc.sample((FIXTURES / name).read_text(), 1.5)


def test_locked_client() -> None:
    s = _sample("pmc-client-slave.txt")
    assert s["answered"] is True
    assert s["t"] == 1.5
    assert s["port_state"] == "SLAVE"
    assert s["offset_ns"] == 214.0
    assert s["path_delay_ns"] == 2153.0
    assert s["steps_removed"] == 1
    assert s["gm_present"] is True
    assert s["gm_identity"] == "5a5f00.fffe.c756b8"
    assert s["clock_identity"] == "fe9e35.fffe.70488f"
    assert s["ingress_time_ns"] == 1795319240696907811
    assert s["log_sync_interval"] == 0
    assert s["announce_receipt_timeout"] == 3


def test_grandmaster_reports_itself_and_no_ingress() -> None:
    s = _sample("pmc-gm.txt")
    assert s["port_state"] == "MASTER"
    assert s["gm_present"] is False  # ptp4l says False when the grandmaster is itself
    assert s["gm_identity"] == s["clock_identity"]
    assert s["ingress_time_ns"] == 0


def test_client_after_grandmaster_loss_keeps_a_stale_offset() -> None:
    # What makes a single pmc answer misleading: the last offset and gmPresent stay.
    s = _sample("pmc-client-after-gm-loss.txt")
    assert s["port_state"] == "LISTENING"
    assert s["offset_ns"] == -881.0
    assert s["gm_present"] is True
    assert s["ingress_time_ns"] == 0


def test_no_daemon_answers_nothing() -> None:
    recorded = FIXTURES.parent / "facts" / "this-machine" / "pmc-no-daemon.txt"
    s = pmc.sample(recorded.read_text(), 0)
    assert s == {"t": 0, "answered": False}


def test_argv_names_socket_and_domain() -> None:
    argv = pmc.argv("/run/ptp4l-eth1", domain=24)
    assert argv[:7] == ["pmc", "-u", "-b", "0", "-d", "24", "-s"]
    assert argv[7] == "/run/ptp4l-eth1"
    assert argv[8:] == list(pmc.QUERY)
    assert pmc.uds_address("ens1f0") == "/run/ptp4l-ens1f0"


def test_stream_of_a_real_window_splits_into_timed_samples() -> None:
    samples = probe.samples_from_stream((FIXTURES / "pmc-stream-slave-gm-killed.txt").read_text())
    assert len(samples) == 57
    assert samples[0]["t"] == 0.0
    assert all(b["t"] > a["t"] for a, b in itertools.pairwise(samples))
    assert samples[0]["port_state"] == "SLAVE"
    assert samples[-1]["port_state"] == "LISTENING"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", []),
        ("noise\n@@ 10.5\nA\n@@ 11\nB\nC\n", [(10.5, "A"), (11.0, "B\nC")]),
        ("@@ nope\nA\n@@ 2\nB", [(2.0, "B")]),
    ],
)
def test_split_stream(text: str, expected: list[tuple[float, str]]) -> None:
    assert pmc.split_stream(text) == expected
