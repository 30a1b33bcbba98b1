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


def instructions_by_function(binary: Path, needle: str) -> dict[str, list[str]]:
    """The instructions containing needle of each function in the disassembly, with their
    operands."""
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
        elif needle in line:
            found.setdefault(function, []).append(line.split("\t")[-1].strip())
    return found


def test_the_order_table_prefetches_are_in_the_binary() -> None:
    """GCC deletes calls to a function that only prefetches (see PREFETCH_INLINE in
    engine/src/common.h); the engine built without them runs, and only its latency says so.
    The hot thread prefetches the slots of a packet's messages (operands through registers:
    slot addresses), besides the order path's fixed lines (operands relative to rip)."""
    bindir = build()
    found = instructions_by_function(bindir / "t2t", "prefetch")
    hot = found.get("hot_main", [])
    slots = [op for op in hot if "rip" not in op]
    assert len(slots) >= 2, f"hot_main prefetches: {hot}"
    assert any("rip" in op for op in hot), f"hot_main prefetches: {hot}"


# The decode and book update of a message: functions GCC keeps (the rest are inlined).
BOOK_UPDATE = ("mold_packet", "itch_msg", "book_for", "order_find", "order_insert",
               "order_erase", "order_reduce", "order_add", "level_add", "level_sub")  # fmt: skip


def test_the_book_update_makes_no_call_into_libc() -> None:
    """With the book update's memmove call, the orders above 500 ns spent 300-900 ns in it
    (see level_move in engine/src/t2t.c). GCC turns copy loops into such calls unless told
    not to (the Makefile's -fno-tree-loop-distribute-patterns for t2t). hot_main and decide
    call the kernel (recvmsg, send) and the trace's fprintf, but no memmove, memcpy, memset
    or memcmp."""
    bindir = build()
    calls = instructions_by_function(bindir / "t2t", "call")
    kept = [f for f in calls if f.split(".")[0] in BOOK_UPDATE]
    assert "itch_msg" in kept, sorted(calls)
    for function in kept:
        out = [c for c in calls[function] if "@plt>" in c]
        assert not out, (function, out)
    for function in ("hot_main", "decide"):
        mem = [c for c in calls.get(function, []) if re.search(r"<mem\w*@plt>", c)]
        assert not mem, (function, mem)
