"""Coverage-guided fuzzing of the facts and cpulist parsers (fuzz_parsers.py, atheris): the
inputs that once broke a parser, replayed; and a bounded run from the recorded outputs."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from fuzz_parsers import run_one, seeds, targets

HERE = Path(__file__).parent
REGRESSIONS = sorted((HERE / "regressions").iterdir())
# The run's length: long enough to explore past the seeds, short enough for every CI run.
SECONDS = 20


@pytest.mark.parametrize("path", REGRESSIONS, ids=[p.name for p in REGRESSIONS])
def test_regression_input_parses(path: Path) -> None:
    # A file is named TARGET--WHAT and holds the text that target once failed on.
    name = path.name.split("--")[0]
    chosen = [t for t in targets() if t[0] == name]
    assert chosen, f"{path.name}: no target {name!r}"
    run_one(b"\0" + path.read_bytes(), chosen)


def test_every_target_has_a_seed() -> None:
    names = [name for name, _ in targets()]
    seeded = {names[data[0]] for _, data in seeds()}
    assert seeded == set(names) - {"cmdline", "mounts", "dmesg", "isolation"}, seeded


@pytest.mark.slow
def test_bounded_coverage_guided_run(tmp_path: Path, bounded_fuzzing: Callable[..., None]) -> None:
    pytest.importorskip("atheris", reason="atheris (dev extra) is not installed")
    seed_dir = tmp_path / "seeds"
    seed_dir.mkdir()
    for name, data in seeds():
        (seed_dir / name).write_bytes(data)
    bounded_fuzzing(
        [sys.executable, str(HERE / "fuzz_parsers.py")],
        flags=(f"-dict={HERE / 'parsers.dict'}",),
        seeds=seed_dir,
        work=tmp_path,
        seconds=SECONDS,
        min_runs=1000,
        regressions="tests/fuzz/regressions/ (as TARGET--WHAT)",
    )
