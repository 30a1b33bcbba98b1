"""Run a colotune host program (colotune.bundle) here, as a host would: python3 alone."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from colotune import bundle

PYTHON = shutil.which("python3") or sys.executable


def run_program(
    program: str, *args: str, cwd: Path, python: str = PYTHON
) -> subprocess.CompletedProcess[str]:
    """`program` fed on stdin with `args`. cwd should be an empty directory, and PYTHONPATH is
    cleared: the program must bring everything it needs."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run(
        ["sh", "-c", bundle.stdin_command(list(args), python=python)],
        input=program,
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=60,
        check=False,
    )
