"""The engine's C unit checks (engine/tests/check.c): order table, price levels, histograms,
order token and ITCH message lengths, built optimised and under ASan/UBSan by `make check`;
and what the optimised build must contain."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from engine_support import ENGINE, build

pytestmark = pytest.mark.integration


def test_make_check_passes() -> None:
    r = subprocess.run(
        ["make", "-s", "-C", str(ENGINE), "check"], capture_output=True, text=True, timeout=600
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.count("check: all passed") == 2


def prefetches_by_function(binary: Path) -> dict[str, list[str]]:
    """The prefetch instructions of each function in the disassembly, with their operands."""
    out = subprocess.run(
        ["objdump", "-d", "--no-show-raw-insn", str(binary)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    found: dict[str, list[str]] = {}
    function = ""
    for line in out.splitlines():
        head = re.match(r"^[0-9a-f]+ <(.+)>:$", line)
        if head:
            function = head.group(1)
        elif "prefetch" in line:
            found.setdefault(function, []).append(line.split("\t")[-1].strip())
    return found


def test_the_order_table_prefetches_are_in_the_binary() -> None:
    """GCC deletes calls to a function that only prefetches (see PREFETCH_INLINE in
    engine/src/common.h); the engine built without them runs, and only its latency says so.
    The hot thread prefetches the slots of a packet's messages (operands through registers:
    slot addresses), besides the order path's fixed lines (operands relative to rip)."""
    bindir = build()
    found = prefetches_by_function(bindir / "t2t")
    hot = found.get("hot_main", [])
    slots = [op for op in hot if "rip" not in op]
    assert len(slots) >= 2, f"hot_main prefetches: {hot}"
    assert any("rip" in op for op in hot), f"hot_main prefetches: {hot}"
