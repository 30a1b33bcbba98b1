"""`colotune topology record|show`: record a host's topology, or show one."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from colotune.host import cpulist, topology


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("topology", help="record or show a host's CPU/NUMA/NIC topology")
    sub = parser.add_subparsers(dest="topology_command", metavar="ACTION", required=True)

    rec = sub.add_parser("record", help="record the files the topology reader needs, as a tarball")
    rec.add_argument("out", type=Path, help="the tarball to write (OUT.tar.gz)")
    rec.add_argument("--root", default="/", help="sysfs/procfs root to record (default: /)")
    rec.add_argument("--note", default="", help="free text stored with the recording")
    rec.set_defaults(func=_record)

    show = sub.add_parser("show", help="print a topology read from a live root or a recording")
    show.add_argument("--sysfs-root", default="/", help="directory or tarball (default: /)")
    show.add_argument("--json", action="store_true", help="print JSON")
    show.set_defaults(func=_show)


def _record(args: argparse.Namespace) -> int:
    topo = topology.record(args.out, root=args.root, note=args.note)
    print(
        f"recorded {args.out}: {len(topo.online_cpus)} online CPUs, "
        f"{len(topo.nodes)} NUMA nodes, NICs: {', '.join(topo.nics) or 'none'}"
    )
    return 0


def _show(args: argparse.Namespace) -> int:
    topo = topology.load(args.sysfs_root)
    if args.json:
        data = topo.to_dict()
        data.pop("cpu_flags")
        print(json.dumps(data, indent=2))
        return 0
    print(f"kernel {topo.kernel_release or '?'}, virtualization: {topo.virtualization or 'none'}")
    print(f"CPUs online {cpulist.render(topo.online_cpus)}", end="")
    print(f", offline {cpulist.render(topo.offline_cpus)}" if topo.offline_cpus else "")
    for node in topo.nodes.values():
        pages = node.hugepages.get(topology.HUGEPAGE_1G_KB, (0, 0))
        print(
            f"node {node.id}: CPUs {cpulist.render(node.cpus) or '-'}, "
            f"memory {node.mem_total_kb // 1024} MiB, 1G pages {pages[0]} (free {pages[1]})"
        )
    print("cores: " + " ".join("[" + cpulist.render(core) + "]" for core in topo.cores()))
    for nic in topo.nics.values():
        phc = f"ptp{nic.phc_index}" if nic.phc_index is not None else "-"
        print(
            f"NIC {nic.name}: node {nic.numa_node}, driver {nic.driver or '?'}, "
            f"PCI {nic.pci_address or '-'}, queues rx {nic.rx_queues}/tx {nic.tx_queues}, "
            f"IRQs {len(nic.irqs)}, PHC {phc}"
        )
    return 0
