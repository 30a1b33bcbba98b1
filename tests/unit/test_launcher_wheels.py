"""The launcher's wheel, built on the controller: reproducible, complete, with its entry point."""

from __future__ import annotations

import base64
import hashlib
import zipfile
from pathlib import Path

from colotune.launcher import wheels


def test_the_same_source_gives_the_same_bytes(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = wheels.colotune_wheel(tmp_path / "a")
    second = wheels.colotune_wheel(tmp_path / "b")
    assert first.name == second.name == f"colotune-{wheels.colotune.__version__}-py3-none-any.whl"
    assert first.read_bytes() == second.read_bytes()


def test_the_wheel_holds_the_launcher_and_a_valid_record(tmp_path: Path) -> None:
    wheel = wheels.colotune_wheel(tmp_path)
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        assert "colotune/launcher/run.py" in names
        assert "colotune/checks/__init__.py" in names
        assert not [n for n in names if "__pycache__" in n]
        # Only what the launcher imports: a change to the lab or the audit changes no host.
        assert not [n for n in names if n.startswith(("colotune/lab/", "colotune/audit/"))]
        info = f"colotune-{wheels.colotune.__version__}.dist-info"
        assert (
            "colotune-launch = colotune.launcher:main"
            in archive.read(f"{info}/entry_points.txt").decode()
        )
        for line in archive.read(f"{info}/RECORD").decode().splitlines():
            name, digest, size = line.split(",")
            if not digest:
                continue
            data = archive.read(name)
            expected = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            assert digest == "sha256=" + expected.decode(), name
            assert int(size) == len(data)
