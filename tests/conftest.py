"""Shared test helpers: where the recorded fixtures live."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

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
