"""The qemu command line of a lab VM: topology, NUMA, NIC placement, boot from disk."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from colotune.errors import ColotuneError
from colotune.lab import presets, qemu


def _spec(preset: str, accel: str = "tcg", index: int = 1) -> qemu.VmSpec:
    return qemu.VmSpec(
        name=f"lab{index}",
        index=index,
        preset=presets.get(preset),
        disk=Path("/s/lab1/overlay.qcow2"),
        ssh_port=2222,
        serial_log=Path("/s/lab1/serial.log"),
        qmp_socket=Path("/s/lab1/qmp.sock"),
        pid_file=Path("/s/lab1/qemu.pid"),
        accel=accel,
    )


def _values(argv: list[str], flag: str) -> list[str]:
    return [argv[i + 1] for i, a in enumerate(argv) if a == flag]


def test_2s4c2t_has_two_sockets_two_nodes_and_memory_on_each() -> None:
    argv = qemu.build_argv(_spec("2s4c2t"))
    assert _values(argv, "-smp") == ["16,sockets=2,cores=4,threads=2"]
    numa = _values(argv, "-numa")
    assert "node,nodeid=0,memdev=mem0" in numa
    assert "node,nodeid=1,memdev=mem1" in numa
    assert "cpu,node-id=0,socket-id=0" in numa
    assert "cpu,node-id=1,socket-id=1" in numa
    objects = _values(argv, "-object")
    assert "memory-backend-ram,id=mem0,size=4096M" in objects
    assert "memory-backend-ram,id=mem1,size=4096M" in objects
    assert _values(argv, "-m") == ["8192M"]


def test_trading_nic_sits_behind_an_expander_bridge_on_its_node() -> None:
    devices = _values(qemu.build_argv(_spec("2s4c2t")), "-device")
    pxb = [d for d in devices if d.startswith("pxb-pcie,")]
    assert pxb == [f"pxb-pcie,id=pxb1,bus_nr={qemu.PXB_BUS_NR},numa_node=1,bus=pcie.0"]
    nic = [d for d in devices if d.startswith("e1000e,")]
    assert len(nic) == 1
    assert "bus=rp1" in nic[0]
    assert "pcie-root-port,id=rp1,bus=pxb1,chassis=1,slot=1" in devices


def test_single_node_preset_puts_the_bridge_on_node_0_and_no_cpu_map() -> None:
    argv = qemu.build_argv(_spec("1s4c"))
    assert _values(argv, "-smp") == ["4,sockets=1,cores=4,threads=1"]
    assert not [n for n in _values(argv, "-numa") if n.startswith("cpu,")]
    assert any("numa_node=0" in d for d in _values(argv, "-device"))


def test_boots_from_its_own_disk_never_a_kernel_image() -> None:
    argv = qemu.build_argv(_spec("1s4c"))
    assert "-kernel" not in argv
    assert "-initrd" not in argv
    drive = _values(argv, "-drive")[0]
    assert "file=/s/lab1/overlay.qcow2" in drive
    assert "cache=unsafe" in drive
    assert any("bootindex=0" in d for d in _values(argv, "-device"))


def test_ssh_is_forwarded_from_loopback_only() -> None:
    netdevs = _values(qemu.build_argv(_spec("1s4c")), "-netdev")
    user = [n for n in netdevs if n.startswith("user,")]
    assert user == ["user,id=mgmt,hostfwd=tcp:127.0.0.1:2222-:22"]


def test_tcg_uses_cpu_max_and_kvm_the_host_cpu_with_1g_pages() -> None:
    tcg = qemu.build_argv(_spec("1s4c", "tcg"))
    # Intel vendor: SMT siblings come from CPUID leaf 0xB (AMD would need topoext).
    assert _values(tcg, "-cpu") == ["max,vendor=GenuineIntel"]
    assert _values(tcg, "-accel")[0].startswith("tcg")
    kvm = qemu.build_argv(_spec("1s4c", "kvm"))
    assert _values(kvm, "-cpu") == ["host,+pdpe1gb"]
    assert _values(kvm, "-accel") == ["kvm"]


def test_tcg_runs_vcpus_on_one_thread_only_when_they_outnumber_host_cpus() -> None:
    assert qemu.tcg_threads(16, 2) == "single"
    assert qemu.tcg_threads(5, 2) == "single"
    assert qemu.tcg_threads(4, 2) == "multi"
    assert qemu.tcg_threads(16, 8) == "multi"
    assert qemu.tcg_threads(16, 2, "multi") == "multi"  # $COLOTUNE_LAB_TCG_THREADS wins
    with pytest.raises(ColotuneError, match="valid: single, multi"):
        qemu.tcg_threads(4, 2, "many")
    spec = dataclasses.replace(_spec("2s4c2t"), tcg_threads="single")
    assert _values(qemu.build_argv(spec), "-accel") == ["tcg,thread=single,tb-size=256"]
    assert _values(qemu.build_argv(_spec("2s4c2t")), "-accel") == ["tcg,thread=multi,tb-size=256"]


def test_each_vm_gets_its_own_trading_mac_and_host_name() -> None:
    a, b = _spec("1s4c", index=1), _spec("1s4c", index=2)
    assert a.trade_mac != b.trade_mac
    assert "type=1,serial=lab2" in _values(qemu.build_argv(b), "-smbios")


def test_best_nic_model_is_picked_from_qemu_device_help() -> None:
    q72 = 'name "e1000", bus PCI\nname "e1000e", bus PCI, desc "Intel 82574L GbE Controller"\n'
    q10 = q72 + 'name "igb", bus PCI, desc "Intel 82576 Gigabit Ethernet Controller"\n'
    assert qemu.pick_nic_model(q72) == "e1000e"
    assert qemu.pick_nic_model(q10) == "igb"
    assert qemu.pick_nic_model(q10, "e1000e") == "e1000e"
    with pytest.raises(ColotuneError, match="igb"):
        qemu.pick_nic_model(q72, "igb")
    with pytest.raises(ColotuneError, match="neither"):
        qemu.pick_nic_model('name "virtio-net-pci"\n')


def test_the_p_state_table_is_handed_to_the_guest_when_given() -> None:
    assert "-acpitable" not in qemu.build_argv(_spec("1s4c"))
    spec = dataclasses.replace(_spec("1s4c"), acpi_table=Path("/cache/acpi/pstates.aml"))
    assert _values(qemu.build_argv(spec), "-acpitable") == ["file=/cache/acpi/pstates.aml"]
