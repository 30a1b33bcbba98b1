"""colotune.bundle: every host program runs with python3 alone (no colotune installed) and
carries every module it imports."""

from __future__ import annotations

import ast
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from host_run import PYTHON, run_program

from colotune import bundle

DESIRED: dict[str, Any] = {  # a desired state with nothing this machine cannot be asked
    "nic": None,
    "irq_cpus": "0",
    "housekeeping_cpus": "0",
    "governor": None,
    "epp": None,
    "turbo": None,
    "thp": "never",
    "ksm_off": False,
    "swap_off": False,
    "sysctls": {"vm.swappiness": {"value": "0", "control": "TUN-019", "at_least": False}},
    "coalescing": {},
    "hugepages_runtime": {},
}


def test_the_topology_program_prints_this_machines_topology(tmp_path: Path) -> None:
    done = run_program(bundle.program("topology"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    files = json.loads(done.stdout)["files"]
    online = Path("/sys/devices/system/cpu/online").read_text().strip()
    assert files["sys/devices/system/cpu/online"].strip() == online


def test_the_tuning_action_program_lists_changes_in_check_mode(tmp_path: Path) -> None:
    swappiness = Path("/proc/sys/vm/swappiness").read_text().strip()
    params = {"desired": DESIRED, "allow": ["live"], "scope": "all", "check_mode": True}
    done = run_program(bundle.tune_module_program(params), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert set(answer) >= {"changed", "changes", "refused", "not_applicable", "diff"}
    wanted = [line for line in answer["changes"] if "proc/sys/vm/swappiness" in line]
    assert bool(wanted) == (swappiness != "0"), answer["changes"]
    assert Path("/proc/sys/vm/swappiness").read_text().strip() == swappiness  # check mode


def test_colotune_tune_is_one_file_that_runs_by_itself(tmp_path: Path) -> None:
    path = tmp_path / "colotune-tune"
    path.write_text(bundle.executable("tune"))
    path.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [PYTHON, str(path), "bogus"], capture_output=True, text=True, env=env, check=False
    )
    assert done.returncode == 2
    assert "usage: colotune-tune" in done.stderr
    missing = tmp_path / "absent.json"
    done = subprocess.run(
        [PYTHON, str(path), "check", "--desired", str(missing)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert f"cannot read the desired state {missing}" in done.stderr
    assert "Traceback" not in done.stderr


def test_an_unknown_program_is_named_with_the_valid_ones() -> None:
    with pytest.raises(ValueError, match=r"no colotune program 'tuned' \(valid: topology, "):
        bundle.program("tuned")


def _imports(source: str) -> list[tuple[str, list[str]]]:
    """(module, names) of every absolute import of a source text."""
    found: list[tuple[str, list[str]]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.module, [alias.name for alias in node.names]))
    return found


@pytest.mark.parametrize("name", sorted(bundle.PROGRAMS))
def test_each_program_carries_every_host_module_its_modules_import(name: str) -> None:
    modules, _ = bundle.PROGRAMS[name]
    for module in modules:
        assert module.startswith("colotune.host."), f"{name} ships {module}, outside the room"
        for imported, names in _imports(bundle._source(module)):
            if imported == "colotune.host":
                wanted = [f"colotune.host.{n}" for n in names]
            elif imported.startswith("colotune"):
                wanted = [imported]
            else:
                continue
            missing = [w for w in wanted if w not in modules]
            assert not missing, f"{module} imports {missing}, which the {name} program lacks"
