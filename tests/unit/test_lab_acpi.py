"""The lab's ACPI P-state table: one processor scope per vCPU under qemu's names, and a
source that iasl (acpica-tools) really compiles."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from colotune.lab import acpi


def test_every_vcpu_gets_pstates_under_qemus_processor_name() -> None:
    source = acpi.pstates_asl(16)
    # qemu names its processor devices \_SB.CPUS.C000 ... in hex (hw/acpi/cpu.c)
    assert source.count("Scope (\\_SB.CPUS.C") == 16
    assert "Scope (\\_SB.CPUS.C00F)" in source and "C010" not in source
    assert source.count("Name (_PSS") == 16
    assert "Package (6) { 3000, 30000, 10, 10, 0, 0xFFFFFFFF }" in source


def test_no_vcpu_is_no_table() -> None:
    with pytest.raises(ValueError, match="at least one vCPU"):
        acpi.pstates_asl(0)


def test_iasl_compiles_it_once_into_the_cache(tmp_path: Path) -> None:
    if shutil.which("iasl") is None:
        pytest.skip("iasl is not installed (scripts/install installs acpica-tools)")
    table = acpi.pstates_table(4, tmp_path)
    data = table.read_bytes()
    assert data[:4] == b"SSDT"
    assert int.from_bytes(data[4:8], "little") == len(data)  # the header's own length
    assert sum(data) % 256 == 0  # ACPI checksum: every byte of the table sums to zero
    stamp = table.stat().st_mtime_ns
    assert acpi.pstates_table(4, tmp_path) == table
    assert table.stat().st_mtime_ns == stamp  # reused, not rebuilt
