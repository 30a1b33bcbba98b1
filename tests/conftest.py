"""Shared test helpers: where the recorded fixtures live, and a Python that sees only src/."""

from __future__ import annotations

import re
import subprocess
import sys
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

# The control tests' shared assertions live in tests/unit/facts_builder.py.
pytest.register_assert_rewrite("facts_builder")

REPO = Path(__file__).resolve().parents[1]
TOPOLOGIES = REPO / "tests" / "fixtures" / "topology"


@pytest.fixture
def topology_fixture() -> Callable[[str], Path]:
    """Path of a recorded topology tarball by name: topology_fixture("xeon-gold-5122-2s")."""

    def find(name: str) -> Path:
        path = TOPOLOGIES / f"{name}.tar.gz"
        if not path.exists():
            pytest.fail(f"missing recorded topology {path}")
        return path

    return find


@pytest.fixture
def topology_tree(tmp_path: Path, topology_fixture: Callable[[str], Path]) -> Callable[[str], Path]:
    """A recorded topology unpacked into a directory, to change before topology.load reads it:
    topology_tree("xeon-gold-5122-2s")."""

    def unpack(name: str) -> Path:
        root = tmp_path / name
        with tarfile.open(topology_fixture(name)) as tar:
            tar.extractall(root, filter="data")
        return root

    return unpack


@pytest.fixture
def isolated_python() -> Callable[[str], str]:
    """Runs Python code in a fresh interpreter (-I) that sees only this project's src/, and
    returns what it printed; fails the test when it exits non-zero."""

    def run(code: str) -> str:
        done = subprocess.run(
            [sys.executable, "-I", "-c", code],
            capture_output=True,
            text=True,
            env={"PYTHONPATH": str(REPO / "src")},
            check=True,
        )
        return done.stdout

    return run


def _bounded_fuzzing(
    command: list[str],
    *,
    seeds: Path,
    work: Path,
    seconds: int,
    min_runs: int,
    regressions: str,
    flags: tuple[str, ...] = (),
) -> None:
    """Run a libFuzzer target (`command`: the binary, or python and an atheris script) for
    `seconds` from the inputs in `seeds`, with libFuzzer `flags` too; print executions/s;
    fail on any report, saying to keep the input in `regressions`, or when fewer than
    `min_runs` inputs ran."""
    corpus, artifacts = work / "corpus", work / "crashes"
    corpus.mkdir()
    artifacts.mkdir()
    run = subprocess.run(
        [
            *command,
            *flags,
            f"-max_total_time={seconds}",
            "-rss_limit_mb=1024",
            "-timeout=10",
            "-print_final_stats=1",
            f"-artifact_prefix={artifacts}/",
            str(corpus),
            str(seeds),
        ],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
    )
    stats = dict(re.findall(r"^stat::(\w+):\s+(\d+)$", run.stderr, re.M))
    print(
        f"{Path(command[-1]).name}: {stats.get('number_of_executed_units')} inputs in "
        f"{seconds} s, {stats.get('average_exec_per_sec')} exec/s, "
        f"{stats.get('new_units_added')} new units"
    )
    found = sorted(p.name for p in artifacts.iterdir())
    report = run.stderr[: run.stderr.find("###### Recommended dictionary")][-4000:]
    assert run.returncode == 0 and not found, (
        f"fuzzing found {found} (exit {run.returncode}); keep the input in {regressions} "
        f"under a name that says what it shows, and fix the bug:\n{report}"
    )
    assert int(stats.get("number_of_executed_units", 0)) >= min_runs, run.stderr[-2000:]


@pytest.fixture
def bounded_fuzzing() -> Callable[..., None]:
    """A bounded libFuzzer run that fails on any report (see _bounded_fuzzing)."""
    return _bounded_fuzzing
