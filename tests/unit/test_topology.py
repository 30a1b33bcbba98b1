"""The topology reader on recorded trees, and recordings that read exactly like the live host."""

from __future__ import annotations

import gzip
import io
import os
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from colotune.host import cpulist, topology
from colotune.host.topology import TopologyError

Fixture = Callable[[str], Path]


def test_interleaved_sockets_and_far_siblings(topology_fixture: Fixture) -> None:
    topo = topology.load(topology_fixture("xeon-gold-5122-2s"))
    assert topo.nodes[0].cpus == cpulist.parse("0,2,4,6,8,10,12,14")
    assert topo.nodes[1].cpus == cpulist.parse("1,3,5,7,9,11,13,15")
    assert topo.core_of(3) == {3, 11}  # siblings n and n+N/2
    assert topo.cpus[3].package == 1 and topo.cpus[3].node == 1
    assert len(topo.cores()) == 8
    nic = topo.nics["ens1f0np0"]
    assert (nic.numa_node, nic.driver, nic.phc_index) == (1, "sfc", 2)
    assert nic.irqs == tuple(range(120, 128))
    assert (nic.rx_queues, nic.tx_queues) == (8, 8)
    assert topo.kernel_version() == (4, 18)
    assert topo.virtualization is None
    assert topo.has_1g_pages


def test_hybrid_core_types(topology_fixture: Fixture) -> None:
    topo = topology.load(topology_fixture("alderlake-i9-12900k"))
    assert {c for c, cpu in topo.cpus.items() if cpu.core_type == "performance"} == set(range(16))
    assert {c for c, cpu in topo.cpus.items() if cpu.core_type == "efficiency"} == set(
        range(16, 24)
    )
    assert topo.core_of(4) == {4, 5}
    assert topo.core_of(20) == {20}
    assert topo.nics["enp5s0"].numa_node == -1


def test_this_machine_recording(topology_fixture: Fixture) -> None:
    topo = topology.load(topology_fixture("this-machine"))
    assert topo.nics["eth0"].numa_node == -1  # virtio-net on a single-node guest
    assert topo.nics["eth0"].driver == "virtio_net"
    assert topo.virtualization is not None
    assert "lo" not in topo.nics  # virtual interfaces are not NICs


def test_recording_reads_like_the_live_host(tmp_path: Path) -> None:
    live = topology.read(topology.SysfsTree("/"))
    out = tmp_path / "me.tar.gz"
    recorded = topology.record(out)
    loaded = topology.load(out)
    for topo in (recorded, loaded):
        assert topo.cpus == live.cpus
        assert topo.nics == live.nics
        assert topo.kernel_release == live.kernel_release
        assert {n: (x.cpus, x.mem_total_kb) for n, x in topo.nodes.items()} == {
            n: (x.cpus, x.mem_total_kb) for n, x in live.nodes.items()
        }
    assert not (tmp_path / "me.tar.gz.partial").exists()


def test_snapshot_reads_like_the_tarball(tmp_path: Path) -> None:
    topo, files = topology.snapshot("/")
    assert topology.from_snapshot(files).cpus == topo.cpus
    assert topology.from_snapshot(files).nics == topo.nics


def test_memory_tree_follows_relative_links() -> None:
    tree = topology.MemoryTree(
        files={"sys/devices/pci0/0000:00:01.0/numa_node": "1\n"},
        links={
            "sys/class/net/eth1": "../../devices/pci0/0000:00:01.0/net/eth1",
            "sys/devices/pci0/0000:00:01.0/net/eth1/device": "../../../0000:00:01.0",
        },
    )
    assert tree.read("sys/class/net/eth1/device/numa_node") == "1\n"
    assert tree.listdir("sys/class/net") == ["eth1"]
    assert tree.readlink("sys/class/net/eth1/device") == "../../../0000:00:01.0"


def test_offline_cpu_is_known_but_not_online(topology_tree: Fixture) -> None:
    # Take a recorded tree and mark CPU 5 offline as the kernel shows it: absent
    # from `online`, its topology directory gone.
    root = topology_tree("xeon-gold-5122-2s")
    (root / "sys/devices/system/cpu/online").write_text("0-4,6-15\n")
    for name in os.listdir(root / "sys/devices/system/cpu/cpu5/topology"):
        os.remove(root / "sys/devices/system/cpu/cpu5/topology" / name)
    topo = topology.load(root)
    assert topo.offline_cpus == {5}
    assert 5 not in topo.online_cpus
    assert topo.core_of(13) == {13}  # the online half of the core


@pytest.mark.parametrize("damage", ["truncated", "not-a-tarball", "no-marker"])
def test_bad_tarballs_are_refused_clearly(
    tmp_path: Path, topology_fixture: Fixture, damage: str
) -> None:
    good = topology_fixture("xeon-gold-5122-2s").read_bytes()
    bad = tmp_path / "bad.tar.gz"
    if damage == "truncated":
        bad.write_bytes(good[: len(good) // 2])
        says = "unreadable or truncated"
    elif damage == "not-a-tarball":
        bad.write_bytes(b"hello\n")
        says = "unreadable or truncated"
    else:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            info = tarfile.TarInfo("sys/devices/system/cpu/online")
            info.size = 2
            tar.addfile(info, io.BytesIO(b"0\n"))
        bad.write_bytes(gzip.compress(buf.getvalue()))
        says = "not a topology recording"
    with pytest.raises(TopologyError, match=says):
        topology.load(bad)


def test_a_directory_that_is_not_sysfs(tmp_path: Path) -> None:
    with pytest.raises(TopologyError, match="not a Linux sysfs tree"):
        topology.load(tmp_path)
    with pytest.raises(TopologyError, match="no such file"):
        topology.load(tmp_path / "missing.tar.gz")


def test_nic_irqs_are_the_functions_and_the_queue_vectors_named_after_the_interface() -> None:
    interrupts = (
        "           CPU0       CPU1\n"
        "  40:  1  2  IR-PCI-MSI  1-edge  ens1f0np0-TxRx-3\n"
        "  41:  1  2  IR-PCI-MSI  2-edge  ens1f0np1-TxRx-3\n"
        "  42:  1  2  IR-PCI-MSI  3-edge  ens1f0\n"
        " LOC:  9  9  Local timer interrupts ens1f0np0\n"
    )
    assert topology.nic_irqs("ens1f0np0", (24, 25), interrupts) == {24, 25, 40}
    assert topology.nic_irqs("ens1f0", (), interrupts) == {42}
    assert topology.nic_irqs("ens1f0np0", (10,), "") == {10}
