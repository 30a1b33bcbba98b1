"""Coverage-guided fuzzing of the engine's feed decoder (engine/fuzz/fuzz_itch.c: libFuzzer,
ASan, UBSan): a bounded run from packets of a feedsim session, and the inputs kept in
engine/fuzz/regressions/ replayed."""

from __future__ import annotations

import struct
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from engine_support import BUILD, ENGINE, build

pytestmark = pytest.mark.integration

FUZZER = BUILD / "fuzz" / "fuzz_itch"
REGRESSIONS = ENGINE / "fuzz" / "regressions"
# The run's length: long enough to explore past the seeds, short enough for every CI run.
SECONDS = 20
SESSION = b"FUZZ000001"


def mold(seq: int, messages: list[bytes], count: int | None = None) -> bytes:
    """A MoldUDP64 datagram: session, sequence number, message count, length-prefixed blocks."""
    n = len(messages) if count is None else count
    blocks = b"".join(struct.pack(">H", len(m)) + m for m in messages)
    return SESSION + struct.pack(">QH", seq, n) + blocks


def itch_messages(path: Path) -> list[bytes]:
    """The messages of an ITCH 5.0 file (each after its 2-byte big-endian length)."""
    data, out, off = path.read_bytes(), [], 0
    while off + 2 <= len(data):
        (n,) = struct.unpack_from(">H", data, off)
        out.append(data[off + 2 : off + 2 + n])
        off += 2 + n
    return out


def write_seeds(directory: Path, tmp: Path) -> int:
    """Packets of 1 to 8 messages of a synthetic feedsim session (every message type), plus a
    heartbeat, an end of session and a truncated block; returns how many."""
    build()
    session = tmp / "session.itch"
    subprocess.run(
        [str(BUILD / "feedsim"), "--write-file", str(session), "--messages", "400",
         "--symbols", "3", "--seed", "1"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    messages = itch_messages(session)
    assert len(messages) >= 400
    packets = [mold(1, [], 0), mold(5, [], 0xFFFF), mold(1, messages[:2])[:-3]]
    seq, i, k = 1, 0, 0
    while i < len(messages):
        chunk = messages[i : i + 1 + k % 8]
        packets.append(mold(seq, chunk))
        seq, i, k = seq + len(chunk), i + len(chunk), k + 1
    for n, packet in enumerate(packets):
        (directory / f"seed-{n:03d}").write_bytes(packet)
    return len(packets)


def test_fuzz_target_builds_apart_from_the_production_build() -> None:
    build("fuzz")
    assert FUZZER.exists()
    make_n = subprocess.run(
        ["make", "-n", "-B", "-C", str(ENGINE), "all"], capture_output=True, text=True, check=True
    ).stdout
    assert "fuzz" not in make_n and "clang" not in make_n


def test_kept_crash_inputs_and_the_seed_packets_replay_clean(tmp_path: Path) -> None:
    # every input a past run crashed on (none kept yet) and every seed packet, through the
    # sanitized decoder: a regression in the decoder fails here even without a new fuzz find
    build("fuzz")
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    write_seeds(seeds, tmp_path)
    kept = [p for p in REGRESSIONS.iterdir() if p.name != "README.md"]
    inputs = sorted(kept) + sorted(seeds.iterdir())
    run = subprocess.run(
        [str(FUZZER), *map(str, inputs)], capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr[-4000:]


def test_bounded_fuzzing_run_finds_nothing(
    tmp_path: Path, bounded_fuzzing: Callable[..., None]
) -> None:
    build("fuzz")
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    write_seeds(seeds, tmp_path)
    bounded_fuzzing(
        [str(FUZZER)],
        seeds=seeds,
        work=tmp_path,
        seconds=SECONDS,
        min_runs=10000,
        regressions="engine/fuzz/regressions/",
    )
