"""Shared test helpers: where the recorded fixtures live, and a Python that sees only src/."""

from __future__ import annotations

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
