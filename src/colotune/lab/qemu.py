"""The qemu command line of a lab VM (pure), and the choice between KVM and TCG."""

from __future__ import annotations

import functools
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from colotune.errors import ColotuneError
from colotune.lab.image import MGMT_MAC, MGMT_PCI_SLOT, PXB_BUS_NR, TRADE_MAC_PREFIX
from colotune.lab.presets import Preset

QEMU = "qemu-system-x86_64"
# Trading NIC models, best first: igb (qemu >= 8: PHC that ticks, rx/tx coalescing, several
# queues) then e1000e (Debian 12's qemu 7.2: PHC, rx-usecs only). See docs/lab.md.
TRADE_NIC_MODELS = ("igb", "e1000e")
ENV_NIC = "COLOTUNE_LAB_NIC"
ENV_TCG_THREADS = "COLOTUNE_LAB_TCG_THREADS"  # "single" or "multi"; see tcg_threads()
TCG_CPU = "max,vendor=GenuineIntel"


@dataclass(frozen=True)
class VmSpec:
    """Everything that makes one VM's qemu command line."""

    name: str
    index: int
    preset: Preset
    disk: Path
    ssh_port: int
    serial_log: Path
    qmp_socket: Path
    pid_file: Path
    accel: str  # "kvm" or "tcg"
    nic_model: str = "e1000e"
    tcg_threads: str = "multi"  # "multi": a host thread per vCPU; "single": one for all
    acpi_table: Path | None = None  # an extra ACPI table (colotune.lab.acpi: P-states)

    @property
    def trade_mac(self) -> str:
        return f"{TRADE_MAC_PREFIX}{0x10 + self.index:02x}"


def build_argv(spec: VmSpec, *, qemu: str = QEMU) -> list[str]:
    """qemu's argv: q35, SeaBIOS booting the overlay through GRUB (never -kernel)."""
    p = spec.preset
    argv = [
        qemu,
        "-name",
        spec.name,
        "-machine",
        "q35",
        "-nodefaults",
        "-display",
        "none",
        "-vga",
        "none",
        "-smbios",
        f"type=1,serial={spec.name}",
        "-pidfile",
        str(spec.pid_file),
        "-qmp",
        f"unix:{spec.qmp_socket},server=on,wait=off",
        "-serial",
        f"file:{spec.serial_log}",
    ]
    if spec.accel == "kvm":
        argv += ["-accel", "kvm", "-cpu", "host,+pdpe1gb"]
    else:
        # -cpu max has pdpe1gb (1 GiB pages). The Intel vendor makes the guest read SMT
        # siblings from CPUID leaf 0xB (an AMD vendor would need topoext, which TCG
        # lacks, and every thread would look like its own core).
        argv += ["-accel", f"tcg,thread={spec.tcg_threads},tb-size=256", "-cpu", TCG_CPU]
    argv += [
        "-smp",
        f"{p.vcpus},sockets={p.sockets},cores={p.cores},threads={p.threads}",
        "-m",
        f"{p.memory_mib}M",
    ]
    for node in range(p.nodes):
        argv += [
            "-object",
            f"memory-backend-ram,id=mem{node},size={p.mem_per_node_mib}M",
            "-numa",
            f"node,nodeid={node},memdev=mem{node}",
        ]
    if p.nodes > 1:
        for node in range(p.nodes):
            argv += ["-numa", f"cpu,node-id={node},socket-id={node}"]
    argv += [
        "-drive",
        f"file={spec.disk},format=qcow2,if=none,id=disk0,cache=unsafe,discard=unmap",
        "-device",
        "virtio-blk-pci,drive=disk0,bus=pcie.0,addr=0x4,bootindex=0",
        # Management NIC: user-mode network, SSH forwarded from loopback only.
        "-netdev",
        f"user,id=mgmt,hostfwd=tcp:127.0.0.1:{spec.ssh_port}-:22",
        "-device",
        f"virtio-net-pci,netdev=mgmt,mac={MGMT_MAC},bus=pcie.0,addr={MGMT_PCI_SLOT:#x},romfile=",
        # Trading NIC: behind a PCI expander bridge on its NUMA node; a hub port with no
        # other member gives it a link that is up, with no partner.
        "-device",
        f"pxb-pcie,id=pxb1,bus_nr={PXB_BUS_NR},numa_node={p.nic_node},bus=pcie.0",
        "-device",
        "pcie-root-port,id=rp1,bus=pxb1,chassis=1,slot=1",
        "-netdev",
        "hubport,id=trade,hubid=1",
        "-device",
        f"{spec.nic_model},netdev=trade,mac={spec.trade_mac},bus=rp1,romfile=",
    ]
    if spec.acpi_table is not None:
        argv += ["-acpitable", f"file={spec.acpi_table}"]
    return argv


def kvm_probe_argv(disk: Path, serial_log: Path, pid_file: Path, *, qemu: str = QEMU) -> list[str]:
    """A one-vCPU KVM boot of the image (on a throwaway overlay) to see if KVM can run it."""
    return [
        qemu,
        "-machine",
        "q35",
        "-nodefaults",
        "-display",
        "none",
        "-accel",
        "kvm",
        "-cpu",
        "host",
        "-smp",
        "1",
        "-m",
        "512M",
        "-pidfile",
        str(pid_file),
        "-serial",
        f"file:{serial_log}",
        "-drive",
        f"file={disk},format=qcow2,if=virtio,cache=unsafe",
        "-no-reboot",
    ]


def tcg_threads(vcpus: int, host_cpus: int, forced: str | None = None) -> str:
    """How TCG runs a VM's vCPUs: "multi" (one host thread each) while there are at most
    two per host CPU, "single" (one thread, round robin) beyond that.

    With many more vCPU threads than host CPUs, a guest waiting on all its CPUs at once (IPIs,
    TSC and clock checks, stop_machine at boot) waits for the host to schedule every one
    of those threads in turn, and a loaded host makes that wait grow without bound; one
    round-robin thread does not depend on the host's scheduler. Measured on 2 cores with
    the 16-vCPU preset (docs/lab.md): boot to SSH 39 s multi / 44 s single when quiet,
    59 / 46 s beside 2 busy loops, 121 / 94 s held to half a CPU; the 4-vCPU preset
    boots in 30 s multi and 44 s single, so it keeps a thread per vCPU."""
    if forced:
        if forced not in ("single", "multi"):
            raise ColotuneError(f"lab: {ENV_TCG_THREADS}={forced!r}; valid: single, multi")
        return forced
    return "multi" if vcpus <= 2 * host_cpus else "single"


def pick_nic_model(device_help: str, forced: str | None = None) -> str:
    """The best trading NIC model in `qemu -device help` output (or the forced one)."""
    models = [m for m in TRADE_NIC_MODELS if f'name "{m}"' in device_help]
    if forced:
        if forced not in models:
            valid = ", ".join(models) or "none"
            raise ColotuneError(
                f"lab: {ENV_NIC}={forced!r} is not offered by this qemu; valid: {valid}"
            )
        return forced
    if not models:
        raise ColotuneError("lab: this qemu offers neither igb nor e1000e NIC emulation")
    return models[0]


@functools.cache
def nic_model(qemu: str = QEMU) -> str:
    """The trading NIC model for the installed qemu ($COLOTUNE_LAB_NIC overrides)."""
    try:
        out = subprocess.run(
            [qemu, "-device", "help"], capture_output=True, text=True, timeout=30, check=False
        ).stdout
    except FileNotFoundError as exc:
        raise ColotuneError(f"lab: {qemu} is not installed (scripts/install installs it)") from exc
    return pick_nic_model(out, os.environ.get(ENV_NIC) or None)
