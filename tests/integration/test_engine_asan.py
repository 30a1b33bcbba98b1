"""The engine under AddressSanitizer and UBSan, fed malformed and randomly damaged packets."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from engine_support import Rig, build, read_json, rig

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root"),
]

SANITIZER_ERRORS = ("ERROR: AddressSanitizer", "runtime error:", "ERROR: LeakSanitizer")


@pytest.fixture(scope="module")
def asan_bindir() -> Path:
    return build("asan")


@pytest.fixture
def engine(tmp_path: Path, asan_bindir: Path) -> Iterator[Rig]:
    with rig(tmp_path, asan_bindir) as r:
        yield r


def test_malformed_and_fuzzed_input_under_sanitizers(engine: Rig) -> None:
    engine.gwsim()
    t2t = engine.t2t(
        "--exit-on-end",
        *("--buy", "AAPL:100.05", "--sell", "MSFT:99.95"),
        *("--max-orders-per-sec", "1000000", "--max-position", "100000000"),
        *("--max-symbols", "16", "--max-levels", "8", "--max-orders", "4096"),
    )
    feed = engine.feedsim(
        *("--messages", "30000", "--speed", "max", "--malformed", "5"),
        *("--drop-seq", "700", "--fuzz", "3000", "--seed", "7"),
    )
    rc = t2t.wait(120)
    gw = next(p for p in engine.procs if p.name == "gwsim")
    assert gw.stop() == 0
    for proc in engine.procs:
        for marker in SANITIZER_ERRORS:
            assert marker not in proc.stderr, f"{proc.name}: {proc.stderr[-4000:]}"
    assert rc == 0, t2t.stderr[-4000:]
    stats = read_json(engine.path("t2t.json"))
    assert feed["fuzz_packets"] == 3000
    mal = stats["feed"]["malformed"]
    assert mal["truncated_header"] >= 5
    assert mal["truncated_message"] >= 5
    assert stats["feed"]["itch_errors"]["unknown_type"] >= 5
    assert stats["feed"]["itch_errors"]["bad_length"] >= 5
    assert stats["feed"]["gaps"]["events"] >= 1
    # the small tables overflowed and said so instead of writing past their end
    assert stats["book"]["level_overflow"] > 0
    assert stats["book"]["order_table_full"] > 0
    assert stats["feed"]["packets"] >= feed["packets_sent"] - 3
