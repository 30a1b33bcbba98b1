"""A bug in colotune is never mistaken for drift: the real CLI in a subprocess, with one of
its functions broken, exits 3 with one line that says where, and `--prom` says the audit
failed."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# The subprocess breaks one function (calling it raises TypeError inside colotune), then runs
# the CLI's own main.
BROKEN = (
    "import sys\n"
    "import colotune.inventory\n"
    "colotune.inventory.load_hosts = None\n"
    "from colotune.cli import main\n"
    "raise SystemExit(main(sys.argv[1:]))\n"
)


def broken_audit(tmp_path: Path, **env: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    prom = tmp_path / "colotune.prom"
    prom.write_text('colotune_audit_host_go{host="ny4-a",verdict="go"} 1\n')  # last run: green
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            BROKEN,
            "audit",
            "-i",
            str(tmp_path / "hosts.yml"),
            "-l",
            "ny4",
            "--prom",
            str(prom),
            "--history",
            str(tmp_path / "history.jsonl"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, **env},
    )
    return done, prom


def _line_of(path: Path, text: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if text in line)


def test_internal_error_exits_3_with_one_line_and_no_traceback(tmp_path: Path) -> None:
    started = time.time()
    done, prom = broken_audit(tmp_path)
    assert done.returncode == 3, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    line = _line_of(REPO / "src/colotune/commands/audit.py", "inventory.load_hosts(")
    assert re.fullmatch(
        rf"colotune: internal error: TypeError at colotune/commands/audit\.py:{line} in \w+: "
        r"'NoneType' object is not callable; this is a colotune bug, rerun with "
        r"COLOTUNE_DEBUG=1 for the traceback",
        lines[0],
    ), lines[0]
    # the textfile says the run failed, and no longer shows the last run's go
    text = prom.read_text()
    assert "colotune_audit_run_ok 0" in text
    assert "colotune_audit_host_go" not in text
    stamp = re.search(r"^colotune_audit_last_run_timestamp_seconds (\d+)$", text, re.M)
    assert stamp and started - 1 <= int(stamp[1]) <= time.time() + 1
    assert not (tmp_path / "history.jsonl").exists()


def test_internal_error_traceback_on_request(tmp_path: Path) -> None:
    done, _ = broken_audit(tmp_path, COLOTUNE_DEBUG="1")
    assert done.returncode == 3
    assert done.stderr.startswith("colotune: internal error: TypeError at ")
    assert "Traceback (most recent call last)" in done.stderr
