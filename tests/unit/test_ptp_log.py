"""ptp4l/phc2sys log lines from real runs here and from public bug reports (fixtures README)."""

from __future__ import annotations

from pathlib import Path

import pytest

from colotune.ptp import log

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ptp"


def _events(name: str) -> list[log.Event]:
    return log.parse((FIXTURES / name).read_text())


def test_steering_client_on_this_machine() -> None:
    events = _events("ptp4l-client-steering-to-slave.log")
    changes = [e for e in events if isinstance(e, log.PortStateChange)]
    assert [(c.before, c.after) for c in changes if c.port == 1] == [
        ("INITIALIZING", "LISTENING"),
        ("LISTENING", "UNCALIBRATED"),
        ("UNCALIBRATED", "SLAVE"),
    ]
    stats = [e for e in events if isinstance(e, log.Stats)]
    assert stats and all(s.rms_ns <= s.max_ns for s in stats)
    assert stats[0].delay_ns == 2003 and stats[0].time == 1410.238


def test_free_running_client_offsets_are_unlocked() -> None:
    events = _events("ptp4l-client-freerun-gm-lost.log")
    offsets = [e for e in events if isinstance(e, log.Offset)]
    assert offsets[0] == log.Offset("ptp4l", 1342.092, None, 1633, 0, 741, 2233)
    assert log.locked_offsets(events) == []  # s0 throughout: free_running never locks
    assert any(
        isinstance(e, log.PortStateChange) and e.event == "ANNOUNCE_RECEIPT_TIMEOUT_EXPIRES"
        for e in events
    )


def test_linuxptp4_names_ports_and_goes_faulty_on_tx_timeout() -> None:
    events = _events("public/raspberrypi-linux-5947-ptp4l4-tx-timeout.log")
    faults = [e for e in events if isinstance(e, log.Fault)]
    assert [f.message for f in faults][:2] == [
        "timed out while polling for tx timestamp",
        "port 1 (eth0): send sync failed",
    ]
    last = events[-1]
    assert isinstance(last, log.PortStateChange)
    assert (last.port, last.interface, last.before, last.after) == (1, "eth0", "MASTER", "FAULTY")
    assert (last.event, last.detail) == ("FAULT_DETECTED", "FT_UNSPECIFIED")


def test_grand_master_state_of_linuxptp4() -> None:
    events = _events("public/checkbox-2746-ptp4l4-grand-master-faulty.log")
    states = [(e.before, e.after) for e in events if isinstance(e, log.PortStateChange)]
    assert ("LISTENING", "GRAND_MASTER") in states
    assert ("GRAND_MASTER", "FAULTY") in states


def test_synchronization_faults_and_clock_jumps() -> None:
    events = _events("public/openil-62-ptp4l-faulty-sync-fault.log")
    changes = [e for e in events if isinstance(e, log.PortStateChange)]
    sync_faults = [e for e in changes if e.event == "SYNCHRONIZATION_FAULT"]
    assert len(sync_faults) == 3
    assert sum(isinstance(e, log.Fault) and "clockcheck" in e.message for e in events) == 2


def test_journal_lines_use_the_daemon_clock_not_the_pid() -> None:
    events = _events("public/openil-linuxptp-37-journal.log")
    assert [type(e).__name__ for e in events] == ["Offset", "Offset", "Offset"]
    phc, ptp, _ = events
    assert isinstance(phc, log.Offset) and isinstance(ptp, log.Offset)
    assert (phc.program, phc.time, phc.clock, phc.offset_ns, phc.delay_ns) == (
        "phc2sys", 1061.49, "CLOCK_REALTIME", 131, 1800,
    )  # fmt: skip
    assert (ptp.program, ptp.time, ptp.servo_state, ptp.delay_ns) == ("ptp4l", 1062.033, 3, 1779)
    assert log.locked_offsets(events) == [-68]
    assert log.locked_offsets(events, program="phc2sys") == []


def test_tagged_summaries_of_linuxptp_daemon() -> None:
    events = _events("public/linuxptp-daemon-69-tagged.log")
    assert events[0] == log.Stats("phc2sys", 619569.614, "CLOCK_REALTIME", 1525, 1525, 405)
    assert isinstance(events[1], log.Stats) and events[1].clock == "ens7f0"
    assert isinstance(events[2], log.Offset) and events[2].offset_ns == -571


def test_phc2sys_locked_offsets() -> None:
    events = _events("public/openil-linuxptp-15-phc2sys.log")
    assert log.locked_offsets(events, program="phc2sys") == [18, -1, -7]


@pytest.mark.parametrize(
    "line",
    ["", "ptp4l[1.0]: selected /dev/ptp0 as PTP clock", "random text", "phc2sys[5.5]: Waiting"],
)
def test_unknown_lines_are_skipped(line: str) -> None:
    assert log.parse_line(line) is None
