"""The engine's C unit checks (engine/tests/check.c): order table, price levels, histograms,
order token and ITCH message lengths, built optimised and under ASan/UBSan by `make check`."""

from __future__ import annotations

import subprocess

import pytest
from engine_support import ENGINE

pytestmark = pytest.mark.integration


def test_make_check_passes() -> None:
    r = subprocess.run(
        ["make", "-s", "-C", str(ENGINE), "check"], capture_output=True, text=True, timeout=600
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.count("check: all passed") == 2
