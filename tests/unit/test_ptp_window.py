"""Window statistics and the verdict, on real recorded windows and on hand-made edge cases."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from colotune.ptp import probe, window

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ptp"


def _stream() -> list[dict[str, Any]]:
    return probe.samples_from_stream((FIXTURES / "pmc-stream-slave-gm-killed.txt").read_text())


def _codes(findings: list[window.Finding]) -> list[str]:
    return [f.code for f in findings]


def test_percentile_is_nearest_rank() -> None:
    values = list(range(1, 101))
    assert window.percentile(values, 50) == 50
    assert window.percentile(values, 99) == 99
    assert window.percentile(values, 100) == 100
    assert window.percentile([7.0], 99) == 7.0
    with pytest.raises(ValueError, match="no values"):
        window.percentile([], 50)
    with pytest.raises(ValueError, match="outside"):
        window.percentile([1], 0)


def test_locked_part_of_a_real_window_passes() -> None:
    samples = [s for s in _stream() if s["t"] < 5.5]  # the grandmaster was killed at ~6 s
    summary = window.summarize(samples)
    assert summary.first_state == summary.last_state == "SLAVE"
    assert summary.changes == ()
    assert summary.offset_abs_ns is not None and summary.offset_abs_ns.max <= 1000
    assert summary.path_delay_ns is not None and 2000 < summary.path_delay_ns.p50 < 3000
    assert window.judge(summary, role="client", max_offset_ns=10_000) == []
    # The same numbers fail a hardware limit, on P99 and on max.
    assert _codes(window.judge(summary, role="client", max_offset_ns=100)) == [
        "offset-p99",
        "offset-max",
    ]


def test_grandmaster_loss_in_a_real_window() -> None:
    summary = window.summarize(_stream())
    assert summary.last_state == "LISTENING"
    assert [(c.before, c.after) for c in summary.changes] == [("SLAVE", "LISTENING")]
    assert summary.sync_age_s is not None and summary.sync_age_s > 10
    assert summary.gm_present is True  # stale: ptp4l 3.1 keeps the old parent
    codes = _codes(window.judge(summary, role="client", max_offset_ns=10_000))
    assert codes == ["port-state", "left-slave", "sync-stale"]


def test_stale_sync_shows_before_the_port_state_changes() -> None:
    samples = _stream()
    killed_by = next(i for i, s in enumerate(samples) if s["t"] > 7.5)
    summary = window.summarize(samples[:killed_by])
    assert summary.last_state == "SLAVE"
    assert _codes(window.judge(summary, role="client", max_offset_ns=10_000)) == ["sync-stale"]


def _s(t: float, state: str | None, offset: float = 10.0, ingress: int | None = None,
       **extra: Any) -> dict[str, Any]:  # fmt: skip
    sample: dict[str, Any] = {"t": t, "answered": state is not None}
    if state is not None:
        sample.update(port_state=state, offset_ns=offset, path_delay_ns=500.0, gm_present=True)
        if ingress is not None:
            sample["ingress_time_ns"] = ingress
    sample.update(extra)
    return sample


def test_repeated_answers_count_once() -> None:
    samples = [_s(0, "SLAVE", 10, 1), _s(0.1, "SLAVE", 10, 1), _s(0.2, "SLAVE", 50, 2)]
    summary = window.summarize(samples)
    assert summary.fresh == 2
    assert summary.offset_abs_ns is not None and summary.offset_abs_ns.count == 2


def test_without_ingress_times_every_answer_counts() -> None:
    samples = [_s(0, "SLAVE", -30), _s(1, "SLAVE", 20), _s(2, "SLAVE", -30)]
    summary = window.summarize(samples)
    assert summary.fresh == 3
    assert summary.sync_age_s is None
    assert summary.offset_min_ns == -30 and summary.offset_max_ns == 20
    assert window.judge(summary, role="client", max_offset_ns=100) == []


def test_faulty_is_reported_even_when_it_recovered() -> None:
    samples = [_s(0, "SLAVE", 5, 1), _s(1, "FAULTY", 5, 2), _s(2, "SLAVE", 5, 3)]
    summary = window.summarize(samples)
    assert summary.faulty_seen
    assert _codes(window.judge(summary, role="client", max_offset_ns=100)) == [
        "faulty",
        "left-slave",
    ]


def test_no_answer_at_all() -> None:
    summary = window.summarize([_s(0, None), _s(1, None)])
    findings = window.judge(summary, role="client", max_offset_ns=100)
    assert _codes(findings) == ["no-answer"]
    assert "domain" in findings[0].message


def test_daemon_gone_midway_is_a_state_change() -> None:
    summary = window.summarize([_s(0, "SLAVE", 5, 1), _s(1, None)])
    assert [(c.before, c.after) for c in summary.changes] == [("SLAVE", None)]


def test_grandmaster_must_stay_master() -> None:
    good = window.summarize([_s(0, "MASTER", 0, 0), _s(1, "GRAND_MASTER", 0, 0)])
    assert window.judge(good, role="grandmaster", max_offset_ns=100) == []
    bad = window.summarize([_s(0, "MASTER", 0, 0), _s(1, "SLAVE", 0, 0)])
    assert _codes(window.judge(bad, role="grandmaster", max_offset_ns=100)) == ["port-state"]


def test_no_grandmaster_and_no_offsets() -> None:
    samples = [_s(0, "SLAVE", 5, 0, gm_present=False), _s(0.5, "SLAVE", 5, 0, gm_present=False)]
    codes = _codes(window.judge(window.summarize(samples), role="client", max_offset_ns=100))
    assert codes == ["no-grandmaster", "no-offsets"]


def test_sync_gap_limit_follows_the_sync_interval() -> None:
    assert window.default_sync_gap_s(-2) == 1.0
    assert window.default_sync_gap_s(0) == 4.0
    assert window.default_sync_gap_s(None) == 4.0
    assert window.default_sync_gap_s(-7) == 1.0


def test_summary_serializes() -> None:
    data = window.summarize(_stream()).to_dict()
    assert data["offset_abs_ns"]["p99"] >= data["offset_abs_ns"]["p50"]
    assert data["changes"][0]["after"] == "LISTENING"


def test_answers_without_time_status_count_and_leave_sync_age_open() -> None:
    # The collector asks TIME_STATUS_NP once, then only the two data sets.
    samples = [_s(0, "SLAVE", 5, 7), _s(1, "SLAVE", 6), _s(2, "SLAVE", 7)]
    summary = window.summarize(samples)
    assert summary.fresh == 3
    assert summary.sync_age_s is None
    assert window.judge(summary, role="client", max_offset_ns=100) == []
