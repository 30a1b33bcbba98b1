"""The rooms of src/colotune that must stay apart: the host room and the lab."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "colotune"


def _imports(path: Path) -> list[str]:
    """Every absolute import of a source file (`from a.b import c` gives a.b and a.b.c)."""
    found: list[str] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found += [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
    return found


@pytest.mark.parametrize("path", sorted((PACKAGE / "host").glob("*.py")), ids=lambda p: p.name)
def test_the_host_room_imports_only_the_standard_library_and_itself(path: Path) -> None:
    for module in _imports(path):
        top = module.split(".")[0]
        assert (
            module == "colotune.host"
            or module.startswith("colotune.host.")
            or top in sys.stdlib_module_names
            or top == "__future__"
        ), f"host/{path.name} runs on trading hosts and imports {module}: standard library only"


def test_only_the_lab_command_imports_the_lab() -> None:
    users = sorted(
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if "lab" not in path.relative_to(PACKAGE).parts[:1]
        and any(m == "colotune.lab" or m.startswith("colotune.lab.") for m in _imports(path))
    )
    assert users == ["commands/lab.py"], "the lab is a test bed; production code must not use it"
