"""ACPI P-states for lab VMs: an SSDT that lets the guest kernel run a cpufreq driver.

qemu declares no P-states, so no cpufreq driver loads in a plain guest and the
governor and frequency-floor settings of roles/tuning have nothing to act on.
The lab hands each VM one more ACPI table (`qemu -acpitable`): `_PCT` and `_PSS`
on every vCPU's processor device (`\\_SB.CPUS.Cxxx`, qemu's names), three
P-states, 3.0, 2.0 and 1.0 GHz. The guest's acpi-cpufreq driver then keeps a
real cpufreq policy per CPU (governors, scaling_min_freq and scaling_max_freq,
the values the controls read). Its control and status registers are I/O ports
that no emulated device decodes: a frequency change reaches no clock, and the
emulated CPU runs as fast as before. The table proves the tuning and the audit
of cpufreq settings, not frequency behaviour.

Compiled with iasl (Debian's acpica-tools) into the image cache, once per
vCPU count.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from colotune.errors import ColotuneError

PSTATES_MHZ = (3000, 2000, 1000)
CONTROL_PORT = 0x0EF0  # written by acpi-cpufreq on a transition; nothing listens
STATUS_PORT = 0x0EF4  # read back as all ones, which the first P-state's status matches


def pstates_asl(vcpus: int) -> str:
    """The SSDT's ASL source for a VM with `vcpus` processors."""
    if vcpus < 1:
        raise ValueError(f"a VM has at least one vCPU, not {vcpus}")
    states = []
    for i, mhz in enumerate(PSTATES_MHZ):
        # Package: frequency MHz, power mW, latency us, bus-master latency us, control, status
        value = 0xFFFFFFFF - i
        states.append(f"Package (6) {{ {mhz}, {mhz * 10}, 10, 10, {i}, 0x{value:08X} }}")
    body = ",\n                ".join(states)
    names = [f"\\_SB.CPUS.C{cpu:03X}" for cpu in range(vcpus)]
    control = f"ResourceTemplate () {{ Register (SystemIO, 32, 0, 0x{CONTROL_PORT:04X}) }}"
    status = f"ResourceTemplate () {{ Register (SystemIO, 32, 0, 0x{STATUS_PORT:04X}) }}"
    lines = ['DefinitionBlock ("", "SSDT", 2, "COLOTU", "PSTATES", 1)', "{"]
    lines += [f"    External ({name}, DeviceObj)" for name in names]
    for name in names:
        lines += [
            f"    Scope ({name})",
            "    {",
            "        Name (_PCT, Package (2) {",
            f"            {control},",
            f"            {status}",
            "        })",
            f"        Name (_PSS, Package ({len(PSTATES_MHZ)}) {{",
            f"                {body}",
            "        })",
            "        Name (_PPC, 0)",
            "    }",
        ]
    lines.append("}")
    return "\n".join(lines) + "\n"


def pstates_table(vcpus: int, cache: Path) -> Path:
    """The compiled table for `vcpus` processors, built once into `cache`/acpi."""
    source = pstates_asl(vcpus)
    digest = hashlib.sha256(source.encode()).hexdigest()[:12]
    table = cache / "acpi" / f"pstates-{vcpus}cpu-{digest}.aml"
    if table.is_file():
        return table
    iasl = shutil.which("iasl")
    if iasl is None:
        raise ColotuneError(
            "lab: iasl is not installed; it compiles the ACPI table that gives lab VMs "
            "cpufreq (scripts/install, or apt-get install acpica-tools)"
        )
    table.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="colotune-acpi-") as tmp:
        asl = Path(tmp) / "pstates.asl"
        asl.write_text(source)
        done = subprocess.run(
            [iasl, "-p", str(Path(tmp) / "pstates"), str(asl)],
            capture_output=True,
            text=True,
            check=False,
        )
        built = Path(tmp) / "pstates.aml"
        if done.returncode != 0 or not built.is_file():
            raise ColotuneError(
                f"lab: iasl could not compile the P-state table: {done.stdout[-2000:]}"
            )
        partial = table.with_name(table.name + f".{os.getpid()}.partial")
        shutil.copyfile(built, partial)
        partial.replace(table)
    return table
