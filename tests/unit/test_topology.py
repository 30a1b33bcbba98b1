"""The topology reader on recorded trees, and recordings that read exactly like the live host."""

from __future__ import annotations

import gzip
import io
import os
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from colotune import profile
from colotune.host import cpulist, topology
from colotune.host.topology import TopologyError
from colotune.plan import check_plan, make_plan

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


def test_node_state_files_that_end_in_a_nul_byte(topology_tree: Fixture) -> None:
    # Kernels from 2.6.24 until the fix of print_nodes_state (linux-mm, 2011) return
    # the NUL after the newline as part of the node state files.
    root = topology_tree("xeon-gold-5122-2s")
    node = root / "sys/devices/system/node"
    for name in ("online", "possible", "has_cpu", "has_normal_memory"):
        (node / name).write_bytes(b"0-1\n\x00")
    topo = topology.load(root)
    assert sorted(topo.nodes) == [0, 1]
    assert topo.nodes[1].cpus == cpulist.parse("1,3,5,7,9,11,13,15")


def test_kernels_with_only_hex_masks_and_no_present_file(
    topology_tree: Fixture, topology_fixture: Fixture
) -> None:
    # The same host on a kernel that writes masks only (thread_siblings, cpumap,
    # local_cpus) and has no cpu/present: the reader falls back to the masks and to
    # the cpuN directories. core_siblings (the whole package) is not taken for SMT.
    expected = topology.load(topology_fixture("xeon-gold-5122-2s"))
    root = topology_tree("xeon-gold-5122-2s")
    cpu = root / "sys/devices/system/cpu"
    (cpu / "present").unlink()
    for c in expected.cpus:
        topo_dir = cpu / f"cpu{c}/topology"
        for name in ("core_cpus_list", "thread_siblings_list"):
            (topo_dir / name).unlink(missing_ok=True)
        (topo_dir / "thread_siblings").write_text(
            cpulist.render_mask(expected.cpus[c].siblings) + "\n"
        )
        package = [o for o, v in expected.cpus.items() if v.package == expected.cpus[c].package]
        (topo_dir / "core_siblings").write_text(cpulist.render_mask(package) + "\n")
    for n, node in expected.nodes.items():
        path = root / f"sys/devices/system/node/node{n}"
        (path / "cpulist").unlink()
        (path / "cpumap").write_text(cpulist.render_mask(node.cpus) + "\n")
    pci = root / "sys/devices/pci0000:d7/0000:d8:00.0"
    (pci / "local_cpulist").unlink()
    (pci / "local_cpus").write_text("0000aaaa\n")
    topo = topology.load(root)
    assert topo.cpus == expected.cpus
    assert topo.nodes == expected.nodes
    assert topo.nics == expected.nics
    assert topo.core_of(3) == {3, 11}


def sparse_tree() -> topology.MemoryTree:
    """Two nodes whose CPUs are numbered with a hole (present 0-3,8-11), SMT pairs
    (0,1), (2,3), (8,9), (10,11), and CPU 11 offline: its topology directory gone, as the
    kernel removes it (Documentation/admin-guide/cputopology.rst: present and online
    are lists with holes)."""
    base = "sys/devices/system"
    files = {
        "proc/sys/kernel/osrelease": "6.1.0-13-amd64\n",
        "proc/cpuinfo": "processor\t: 0\nflags\t\t: fpu pdpe1gb\n",
        f"{base}/cpu/present": "0-3,8-11\n",
        f"{base}/cpu/possible": "0-15\n",
        f"{base}/cpu/online": "0-3,8-10\n",
        f"{base}/node/online": "0-1\n",
    }
    for cpu in (0, 1, 2, 3, 8, 9, 10):
        topo = f"{base}/cpu/cpu{cpu}/topology"
        files[f"{topo}/physical_package_id"] = f"{cpu // 8}\n"
        files[f"{topo}/core_id"] = f"{cpu % 8 // 2}\n"
        files[f"{topo}/thread_siblings_list"] = f"{cpu - cpu % 2}-{cpu - cpu % 2 + 1}\n"
    for node, cpus in ((0, "0-3"), (1, "8-11")):
        files[f"{base}/node/node{node}/cpulist"] = cpus + "\n"
        files[f"{base}/node/node{node}/meminfo"] = (
            f"Node {node} MemTotal:       16777216 kB\nNode {node} MemFree:        8388608 kB\n"
        )
        files[f"{base}/node/node{node}/distance"] = "10 21\n" if node == 0 else "21 10\n"
    return topology.MemoryTree(files=files)


def test_sparse_numbering_and_an_offline_cpu() -> None:
    topo = topology.read(sparse_tree())
    assert sorted(topo.cpus) == [0, 1, 2, 3, 8, 9, 10, 11]
    assert topo.offline_cpus == {11}
    assert topo.nodes[1].cpus == {8, 9, 10, 11}
    assert topo.cores() == [{0, 1}, {2, 3}, {8, 9}, {10}]
    assert topo.cpus[9].node == 1


def test_sparse_numbering_with_an_offline_cpu_plans_whole_cores() -> None:
    topo = topology.read(sparse_tree())
    plan = make_plan(topo, profile.build({"tuning_numa_node": 1}, host="h1"), host="h1")
    assert check_plan(plan, topo) == []
    assert (plan.isolated_cpus, plan.housekeeping_cpus) == ("10", "0-3,8-9")
