"""Every PTP control on hand-built snapshots: pass, fail, and not applicable."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import facts_builder as fb
import pytest

from colotune import checks

Raw = dict[str, Any]


def _samples(*texts: str) -> Callable[[Raw], None]:
    def change(raw: Raw) -> None:
        raw["ptp"]["samples"] = {
            "/run/ptp4l": [{"t": float(i), "rc": 0, "out": t} for i, t in enumerate(texts)]
        }

    return change


def _without(comm: str) -> Callable[[Raw], None]:
    def change(raw: Raw) -> None:
        raw["daemons"] = [d for d in raw["daemons"] if d["comm"] != comm]

    return change


def _with(comm: str) -> Callable[[Raw], None]:
    def change(raw: Raw) -> None:
        raw["daemons"].append({"pid": 600, "comm": comm, "cmdline": comm, "cpus_allowed": "0"})

    return change


def _no_sockets(raw: Raw) -> None:
    raw["ptp"] = {"pmc": True, "sockets": [], "samples": {}}


def _no_pmc(raw: Raw) -> None:
    raw["ptp"] = {"pmc": False, "sockets": [], "samples": {}}


def _phc2sys_log(text: str | None) -> Callable[[Raw], None]:
    def change(raw: Raw) -> None:
        if text is None:
            raw["systemd"].pop("phc2sys_log")
        else:
            raw["systemd"]["phc2sys_log"] = {"rc": 0, "out": text, "err": ""}

    return change


def _nothing(raw: Raw) -> None:
    return None


NO_DAEMON = fb.fixture("this-machine/pmc-no-daemon.txt")
SOFTWARE = {"ptp_timestamping": "software"}
GM = {"ptp_role": "grandmaster"}
OFF = {"ptp_enabled": False}
CASES: list[tuple[str, Callable[[Raw], None], dict[str, Any], str, str]] = [
    ("PTP-001", _nothing, {}, "pass", "running"),
    ("PTP-001", _without("ptp4l"), {}, "fail", "Start ptp4l"),
    ("PTP-001", _nothing, OFF, "not_applicable", "ptp_enabled is false"),
    ("PTP-002", _nothing, {}, "pass", "running"),
    ("PTP-002", _without("phc2sys"), {}, "fail", "Start phc2sys"),
    ("PTP-002", _nothing, SOFTWARE, "not_applicable", "software timestamping"),
    ("PTP-003", _nothing, {}, "pass", "SLAVE"),
    ("PTP-003", _samples(fb.pmc_text(), fb.pmc_text(state="FAULTY")), {}, "fail", "FAULTY"),
    ("PTP-003", _samples(fb.pmc_text(state="LISTENING")), {}, "fail", "LISTENING"),
    ("PTP-003", _samples(NO_DAEMON), {}, "fail", "does not answer management requests"),
    ("PTP-003", _no_sockets, {}, "fail", "no management socket"),
    ("PTP-003", _no_pmc, {}, "fail", "Install linuxptp"),
    ("PTP-003", _samples(fb.pmc_text(state="MASTER")), GM, "pass", "MASTER"),
    ("PTP-003", _nothing, OFF, "not_applicable", "ptp_enabled is false"),
    ("PTP-004", _nothing, {}, "pass", "8e5546.fffe.93f3d7"),
    ("PTP-004", _samples(fb.pmc_text(gm_present=False)), {}, "fail", "no grandmaster"),
    ("PTP-004", _samples(*(fb.pmc_text(ingress=1000) for _ in range(8))), {}, "fail", "holdover"),
    (
        "PTP-004",
        _samples(*(fb.pmc_text(ingress=1000 + t) for t in range(8))),
        {},
        "pass",
        "present",
    ),
    ("PTP-004", _nothing, GM, "not_applicable", "this host is the grandmaster"),
    (
        "PTP-005",
        _samples(*(fb.pmc_text(offset=o) for o in (5, -40, 80, -12))),
        {},
        "pass",
        "max 80 ns over 4 samples",
    ),
    (
        "PTP-005",
        _samples(*(fb.pmc_text(offset=o) for o in (5, -40, 250, -12))),
        {},
        "fail",
        "max 250 ns",
    ),
    ("PTP-005", _samples(fb.pmc_text(offset=4000)), SOFTWARE, "pass", "<= 10000 ns"),
    ("PTP-005", _samples(fb.pmc_text(offset=150)), {"ptp_max_offset_ns": 200}, "pass", "150"),
    ("PTP-005", _nothing, GM, "not_applicable", "grandmaster"),
    ("PTP-006", _nothing, {}, "pass", "max 12 ns over 2 samples"),
    (
        "PTP-006",
        _phc2sys_log("h phc2sys[1]: CLOCK_REALTIME phc offset 4000 s2 freq 1 delay 5\n"),
        {},
        "fail",
        "max 4000 ns",
    ),
    (
        "PTP-006",
        _phc2sys_log("h phc2sys[1]: CLOCK_REALTIME phc offset 9 s0 freq 1 delay 5\n"),
        {},
        "fail",
        "not locked",
    ),
    ("PTP-006", _phc2sys_log(None), {}, "not_applicable", "no journal"),
    ("PTP-006", _nothing, SOFTWARE, "not_applicable", "software timestamping"),
    ("PTP-007", _nothing, {}, "pass", "only discipline"),
    ("PTP-007", _with("chronyd"), {}, "fail", "chronyd (PID 600)"),
    ("PTP-007", _with("systemd-timesyn"), {}, "fail", "systemd-timesyn"),
    ("PTP-007", _with("chronyd"), OFF, "not_applicable", "ptp_enabled is false"),
    (
        "PTP-007",
        fb.units("Id=chrony.service\nActiveState=inactive\nUnitFileState=enabled\n"),
        {},
        "fail",
        "chrony.service starts again at the next boot",
    ),
    # The role masks timemaster (its own ptp4l, phc2sys and chronyd): the audit reads it too.
    ("PTP-007", _with("timemaster"), {}, "fail", "timemaster (PID 600)"),
    (
        "PTP-007",
        fb.units("Id=timemaster.service\nActiveState=inactive\nUnitFileState=enabled\n"),
        {},
        "fail",
        "timemaster.service starts again at the next boot",
    ),
    (
        "PTP-007",
        fb.units("Id=chrony.service\nActiveState=inactive\nUnitFileState=masked\n"),
        {},
        "pass",
        "only discipline",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=fb.case_ids(CASES))
def test_control(case: fb.Case) -> None:
    fb.check_case(case, fb.plan())


def test_every_ptp_control_has_pass_fail_and_not_applicable_cases() -> None:
    ids = {c.id for c in checks.all_controls() if c.id.startswith("PTP-")}
    for wanted in ("pass", "fail", "not_applicable"):
        covered = {c[0] for c in CASES if c[3] == wanted}
        assert ids <= covered, f"no {wanted} case for {sorted(ids - covered)}"


def test_recorded_uncalibrated_client_is_not_slave() -> None:
    plan = fb.plan()
    raw = fb.tuned(plan)
    _samples(fb.fixture("this-machine/pmc-uncalibrated-client.txt"))(raw)
    result = checks.run("PTP-003", plan, raw, fb.profile())
    assert result.status == "fail"
    assert result.actual == "UNCALIBRATED"
    offset = checks.run("PTP-005", plan, raw, fb.profile(ptp_timestamping="software"))
    assert offset.status == "pass"
    assert "max 14 ns" in offset.actual
