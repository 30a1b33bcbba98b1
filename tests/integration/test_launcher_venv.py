"""roles/trader's colotune_venv module for real: a venv from the controller-built wheels.

Runs the module through `ansible localhost` (no network, no pip in the venv), then
the installed colotune-launch, whose preflight imports the audit's controls from the
venv alone: the proof that the host needs nothing beyond python3 and these wheels.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = REPO / ".venv" / "bin"


def module(dest: Path, wheels: list[Path], *, check: bool = False) -> dict[str, object]:
    args = json.dumps({"dest": str(dest), "wheels": [str(w) for w in wheels]})
    argv = [str(VENV_BIN / "ansible"), "localhost", "-m", "colotune_venv", "-a", args, "-o"]
    if check:
        argv.append("--check")
    env = {
        **os.environ,
        "ANSIBLE_LIBRARY": str(REPO / "roles" / "trader" / "library"),
        "ANSIBLE_LOCALHOST_WARNING": "false",
        "ANSIBLE_INVENTORY_UNPARSED_WARNING": "false",
        "ANSIBLE_PYTHON_INTERPRETER": "/usr/bin/python3",
    }
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    result: dict[str, object] = json.loads(done.stdout.split("=>", 1)[1])
    return result


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    out = tmp_path_factory.mktemp("wheels")
    done = subprocess.run(
        [
            str(VENV_BIN / "python"),
            "-m",
            "colotune.launcher.wheels",
            "--out",
            str(out),
            "--python-version",
            "3.11",
            "--platform",
            os.uname().machine,
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if done.returncode != 0:
        pytest.skip(f"the preflight's wheels are not available here: {done.stderr[-400:]}")
    return [out / name for name in json.loads(done.stdout)["wheels"]]


def test_venv_from_wheels_runs_the_launcher_and_its_controls(
    wheels: list[Path], tmp_path: Path
) -> None:
    dest = tmp_path / "launcher"
    assert module(dest, wheels, check=True)["changed"] is True
    assert not dest.exists(), "check mode must not create the venv"
    assert module(dest, wheels)["changed"] is True
    assert module(dest, wheels)["changed"] is False
    assert not (dest / "bin" / "pip").exists()

    plan = {
        "host": None,
        "housekeeping_cpus": "0",
        "isolated_cpus": "",
        "idle_cpus": "",
        "irq_cpus": "0",
        "numa_node": 0,
        "nic": {"name": None, "numa_node": 0},
        "hugepages": {},
        "hugepages_runtime": False,
        "kernel_args": [],
        "threads": {},
        "explanations": [],
    }
    (tmp_path / "plan.json").write_text(json.dumps(plan))
    config = {"engine": "/bin/true", "threads": [], "profile": {"ptp_enabled": False}}
    (tmp_path / "trader.json").write_text(json.dumps(config))
    done = subprocess.run(
        [
            str(dest / "bin" / "colotune-launch"),
            "--config",
            str(tmp_path / "trader.json"),
            "--plan",
            str(tmp_path / "plan.json"),
            "--preflight-only",
            "--json",
        ],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin"},
        timeout=120,
    )
    verdicts = {f["control"]: f["status"] for f in json.loads(done.stdout)}
    assert "LCH-000" not in verdicts, done.stdout  # the controls imported from the venv
    assert set(verdicts) >= {"TUN-002", "TUN-006", "PTP-003", "PTP-005", "LCH-001"}

    # Fewer wheels: the venv is rebuilt without them (no stale pydantic left behind).
    assert module(dest, wheels[:1])["changed"] is True
    left = subprocess.run(
        [str(dest / "bin" / "python"), "-c", "import pydantic"], capture_output=True
    )
    assert left.returncode != 0
