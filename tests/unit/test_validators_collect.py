"""The validators suite is made from the control registry: one test per control, no other."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from colotune import checks

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
TEST_ID = re.compile(r"^test_controls\.py::test_control\[local-([A-Z]+-\d{3}) (.+)\]$")


def collected(*args: str) -> list[tuple[str, str]]:
    """(control ID, title) of each test the validators suite collects for the local host."""
    done = subprocess.run(
        [str(BIN / "pytest"), "validators", "--hosts=local://", "--collect-only", "-q", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        check=True,
    )
    lines = [line for line in done.stdout.splitlines() if "::" in line]
    found = [TEST_ID.match(line) for line in lines]
    assert all(found), lines
    return [(m.group(1), m.group(2)) for m in found if m]


def test_the_suite_collects_exactly_the_registrys_controls() -> None:
    wanted = [(c.id, c.title) for c in checks.all_controls()]
    assert sorted(collected()) == wanted


def test_a_control_that_needs_a_reboot_is_marked_with_its_reason() -> None:
    reboot = [(c.id, c.title) for c in checks.all_controls() if c.needs and c.needs[0] == "reboot"]
    assert ("TUN-001", checks.get("TUN-001").title) in reboot
    assert sorted(collected("-m", "reboot")) == reboot
