"""Host topology: CPUs, SMT siblings, NUMA nodes, NICs, read from a sysfs root.

A live host (root "/"), a directory holding a recorded tree, and a tarball made
by `colotune topology record` read exactly alike: every read goes through
`SysfsTree`, and the recorder is that same reader with a tree that remembers
each file it touched. Standard library only, so the on-host collector can ship
this module to a target that has nothing but python3. What the collector pays
for counts (its budget is 50 ms of host CPU): the model is NamedTuples rather
than dataclasses, paths are strings, and only the tarball recorder and loader
import tarfile, tempfile and pathlib, inside the functions that use them.
"""

from __future__ import annotations

import io
import json
import os
import posixpath
import re
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, NamedTuple

from colotune.host import cpulist

if TYPE_CHECKING:
    import tarfile
    from pathlib import Path

# The marker every recorded tarball carries at its top: who recorded what, when.
META_FILE = "colotune-topology.json"
HUGEPAGE_1G_KB = 1048576


class TopologyError(Exception):
    """A topology that cannot be read; the message names the file and the problem."""


class SysfsTree:
    """Read-only access to a sysfs/procfs tree below `root`, by relative path.

    Missing or unreadable files read as None, missing directories list as
    empty: sysfs differs between kernels and drivers, and the reader decides
    what a missing file means.
    """

    def __init__(self, root: Path | str) -> None:
        self.root = os.fspath(root)

    def _path(self, rel: str) -> str:
        return os.path.join(self.root, rel.lstrip("/"))

    def read(self, rel: str) -> str | None:
        try:
            with open(self._path(rel), errors="replace") as handle:
                return handle.read()
        except OSError:
            return None

    def listdir(self, rel: str) -> list[str]:
        try:
            return sorted(os.listdir(self._path(rel)))
        except OSError:
            return []

    def readlink(self, rel: str) -> str | None:
        try:
            return os.readlink(self._path(rel))
        except OSError:
            return None

    def resolve(self, rel: str) -> str:
        """The path `rel` points to after following symlinks, relative to the root."""
        real = os.path.realpath(self._path(rel))
        root = os.path.realpath(self.root)
        if real != root and not real.startswith(root.rstrip("/") + "/"):
            raise TopologyError(f"{rel} points outside the tree ({real})")
        return os.path.relpath(real, root)


class RecordingTree(SysfsTree):
    """A SysfsTree that remembers every path it was asked for, to record them."""

    def __init__(self, root: Path | str) -> None:
        super().__init__(root)
        self.files: set[str] = set()
        self.dirs: set[str] = set()
        self.links: set[str] = set()

    def _touch(self, rel: str) -> str:
        """Record the symlinks met on the way to `rel`; return its resolved path."""
        current = ""
        for part in rel.strip("/").split("/"):
            current = f"{current}/{part}" if current else part
            if os.path.islink(self._path(current)):
                self.links.add(current)
                current = super().resolve(current)
        return current

    def read(self, rel: str) -> str | None:
        text = super().read(rel)
        if text is not None:
            self.files.add(self._touch(rel))
        return text

    def listdir(self, rel: str) -> list[str]:
        names = super().listdir(rel)
        if names or os.path.isdir(self._path(rel)):
            self.dirs.add(self._touch(rel))
        return names

    def readlink(self, rel: str) -> str | None:
        target = super().readlink(rel)
        if target is not None:
            parent = self._touch(os.path.dirname(rel)) if os.path.dirname(rel) else ""
            self.links.add(f"{parent}/{os.path.basename(rel)}" if parent else rel)
        return target

    def resolve(self, rel: str) -> str:
        return self._touch(rel)

    def export(self) -> dict[str, Any]:
        """What was touched, as plain data: {"files": {...}, "links": {...}, "dirs": [...]}.

        Listed directories keep the names of all their entries (sub-directories
        as directories, anything else as an empty file) since names are what a
        listing reads.
        """
        files = {rel: SysfsTree.read(self, rel) or "" for rel in self.files}
        links = {rel: os.readlink(self._path(rel)) for rel in self.links}
        dirs = set(self.dirs)
        for rel in self.dirs:
            for name in SysfsTree.listdir(self, rel):
                child = f"{rel}/{name}"
                path = self._path(child)
                if child in files or child in links or child in dirs:
                    continue
                if os.path.islink(path):
                    links[child] = os.readlink(path)
                elif os.path.isdir(path):
                    dirs.add(child)
                else:
                    files[child] = ""
        return {"files": files, "links": links, "dirs": sorted(dirs)}


class MemoryTree(SysfsTree):
    """A tree held in memory: what a recording or a collector snapshot carries.

    `files` maps a path to its text, `links` a symlink's path to its target
    (relative, as sysfs writes them), `dirs` lists directories that exist.
    """

    def __init__(
        self,
        *,
        files: dict[str, str],
        links: dict[str, str] | None = None,
        dirs: list[str] | set[str] | None = None,
    ) -> None:
        super().__init__("/")
        self.files = dict(files)
        self.links = dict(links or {})
        self.dirs = set(dirs or ())
        for path in list(self.files) + list(self.links) + list(self.dirs):
            parent = posixpath.dirname(path)
            while parent and parent not in self.dirs:
                self.dirs.add(parent)
                parent = posixpath.dirname(parent)
        self._children: dict[str, set[str]] = {}
        for path in list(self.files) + list(self.links) + list(self.dirs):
            self._children.setdefault(posixpath.dirname(path), set()).add(posixpath.basename(path))

    def resolve(self, rel: str) -> str:
        current = ""
        for hop, part in enumerate(rel.strip("/").split("/")):
            if part in ("", "."):
                continue
            current = posixpath.dirname(current) if part == ".." else posixpath.join(current, part)
            seen = 0
            while current in self.links:
                seen += 1
                if seen > 40 or hop > 400:
                    raise TopologyError(f"{rel}: too many levels of symbolic links")
                target = self.links[current]
                current = posixpath.normpath(posixpath.join(posixpath.dirname(current), target))
                if current.startswith(".."):
                    raise TopologyError(f"{rel} points outside the tree")
        return current

    def read(self, rel: str) -> str | None:
        return self.files.get(self.resolve(rel))

    def listdir(self, rel: str) -> list[str]:
        return sorted(self._children.get(self.resolve(rel), ()))

    def readlink(self, rel: str) -> str | None:
        parent = posixpath.dirname(rel.strip("/"))
        where = posixpath.join(self.resolve(parent), posixpath.basename(rel)) if parent else rel
        return self.links.get(where)


class Cpu(NamedTuple):
    id: int
    online: bool
    package: int | None = None
    die: int | None = None
    core: int | None = None
    siblings: frozenset[int] = frozenset()  # SMT siblings, this CPU included
    node: int | None = None
    core_type: str | None = None  # "performance" / "efficiency" on hybrid CPUs


class Node(NamedTuple):
    id: int
    cpus: frozenset[int]
    mem_total_kb: int
    mem_free_kb: int
    # page size in kB -> [total, free], e.g. {1048576: [2, 2], 2048: [0, 0]}
    hugepages: dict[int, tuple[int, int]]
    distances: tuple[int, ...] = ()


class Nic(NamedTuple):
    name: str
    numa_node: int  # -1 when the platform does not say
    pci_address: str | None = None
    driver: str | None = None
    local_cpus: frozenset[int] = frozenset()
    irqs: tuple[int, ...] = ()
    rx_queues: int = 0
    tx_queues: int = 0
    phc_index: int | None = None
    mac: str | None = None
    operstate: str | None = None


class Topology(NamedTuple):
    cpus: dict[int, Cpu]
    nodes: dict[int, Node]
    nics: dict[str, Nic]
    kernel_release: str
    virtualization: str | None  # None on bare metal, else what the host says it runs on
    cpu_flags: frozenset[str] = frozenset()
    source: str = ""

    @property
    def online_cpus(self) -> frozenset[int]:
        return frozenset(c.id for c in self.cpus.values() if c.online)

    @property
    def offline_cpus(self) -> frozenset[int]:
        return frozenset(c.id for c in self.cpus.values() if not c.online)

    @property
    def has_1g_pages(self) -> bool:
        return "pdpe1gb" in self.cpu_flags or any(
            HUGEPAGE_1G_KB in n.hugepages for n in self.nodes.values()
        )

    def core_of(self, cpu: int) -> frozenset[int]:
        """The online CPUs that share `cpu`'s physical core (its SMT siblings and itself)."""
        siblings = self.cpus[cpu].siblings or frozenset({cpu})
        return frozenset(s for s in siblings if s in self.cpus and self.cpus[s].online)

    def cores(self) -> list[frozenset[int]]:
        """Physical cores as sets of online CPUs, ordered by their lowest CPU."""
        seen: set[frozenset[int]] = set()
        for cpu in sorted(self.online_cpus):
            seen.add(self.core_of(cpu))
        return sorted(seen, key=min)

    def kernel_version(self) -> tuple[int, int]:
        match = re.match(r"(\d+)\.(\d+)", self.kernel_release)
        return (int(match.group(1)), int(match.group(2))) if match else (0, 0)

    def to_dict(self) -> dict[str, Any]:
        def clean(value: Any) -> Any:
            if isinstance(value, Cpu | Node | Nic):
                return clean(value._asdict())
            if isinstance(value, frozenset):
                if all(isinstance(v, int) for v in value):
                    return cpulist.render(value)
                return sorted(value)
            if isinstance(value, dict):
                return {str(k): clean(v) for k, v in value.items()}
            if isinstance(value, list | tuple):
                return [clean(v) for v in value]
            return value

        return {str(k): clean(v) for k, v in self._asdict().items()}


# ---------------------------------------------------------------- reading


# What ends a sysfs value besides its newline: kernels from 2.6.24 until the fix of
# print_nodes_state ("mm: Fix off-by-one bug in print_nodes_state", linux-mm, December
# 2011) return one byte more than they print for the node state files
# (/sys/devices/system/node/{online,possible,has_cpu,...}): the NUL after the newline.
_TRAILER = " \t\n\x00"


def _int(text: str | None, default: int | None = None) -> int | None:
    if text is None:
        return default
    try:
        return int(text.strip(_TRAILER))
    except ValueError:
        return default


def _cpus(tree: SysfsTree, rel: str, mask: str | None = None) -> frozenset[int] | None:
    """The CPU list in file `rel`, else the hex mask in file `mask` (kernels that write
    only masks), else None."""
    for path, parse in ((rel, cpulist.parse), (mask, cpulist.parse_mask)):
        text = tree.read(path) if path is not None else None
        if text is None:
            continue
        try:
            return parse(text.strip(_TRAILER))
        except cpulist.CpuListError as exc:
            raise TopologyError(f"{path}: {exc}") from exc
    return None


def _read_cpus(tree: SysfsTree) -> dict[int, Cpu]:
    base = "sys/devices/system/cpu"
    present = _cpus(tree, f"{base}/present")
    if present is None:  # no present file: the CPUs that have a directory
        present = (
            frozenset(
                int(name[3:]) for name in tree.listdir(base) if re.fullmatch(r"cpu[0-9]+", name)
            )
            or None
        )
    online = _cpus(tree, f"{base}/online")
    if present is None or online is None:
        raise TopologyError(
            f"no {base}/present or {base}/online: not a Linux sysfs tree "
            "(give the root of a live host or of a tree made by `colotune topology record`)"
        )
    hybrid: dict[int, str] = {}
    for kind, label in (("cpu_core", "performance"), ("cpu_atom", "efficiency")):
        for cpu in _cpus(tree, f"sys/devices/{kind}/cpus") or ():
            hybrid[cpu] = label
    cpus: dict[int, Cpu] = {}
    for cpu in sorted(present):
        topo = f"{base}/cpu{cpu}/topology"
        is_online = cpu in online
        # SMT siblings: core_cpus (5.3+) or thread_siblings, as a list or else as a mask;
        # never core_siblings, which holds the whole package.
        siblings = _cpus(tree, f"{topo}/core_cpus_list", f"{topo}/core_cpus") or _cpus(
            tree, f"{topo}/thread_siblings_list", f"{topo}/thread_siblings"
        )
        cpus[cpu] = Cpu(
            id=cpu,
            online=is_online,
            package=_int(tree.read(f"{topo}/physical_package_id")),
            die=_int(tree.read(f"{topo}/die_id")),
            core=_int(tree.read(f"{topo}/core_id")),
            siblings=siblings or frozenset({cpu}),
            core_type=hybrid.get(cpu),
        )
    return cpus


_MEMINFO = re.compile(r"Node \d+ (\w+):\s+(\d+)")


def _read_nodes(tree: SysfsTree, cpus: dict[int, Cpu]) -> dict[int, Node]:
    base = "sys/devices/system/node"
    node_ids = _cpus(tree, f"{base}/online")
    nodes: dict[int, Node] = {}
    if node_ids is None:  # a kernel built without NUMA: one node holds everything
        meminfo = tree.read("proc/meminfo") or ""
        total = re.search(r"MemTotal:\s+(\d+)", meminfo)
        free = re.search(r"MemFree:\s+(\d+)", meminfo)
        nodes[0] = Node(
            id=0,
            cpus=frozenset(cpus),
            mem_total_kb=int(total.group(1)) if total else 0,
            mem_free_kb=int(free.group(1)) if free else 0,
            hugepages={},
        )
    for node in sorted(node_ids or ()):
        path = f"{base}/node{node}"
        mem = dict(_MEMINFO.findall(tree.read(f"{path}/meminfo") or ""))
        hugepages: dict[int, tuple[int, int]] = {}
        for entry in tree.listdir(f"{path}/hugepages"):
            size = re.fullmatch(r"hugepages-(\d+)kB", entry)
            if size:
                hugepages[int(size.group(1))] = (
                    _int(tree.read(f"{path}/hugepages/{entry}/nr_hugepages"), 0) or 0,
                    _int(tree.read(f"{path}/hugepages/{entry}/free_hugepages"), 0) or 0,
                )
        distance = (tree.read(f"{path}/distance") or "").split()
        nodes[node] = Node(
            id=node,
            cpus=_cpus(tree, f"{path}/cpulist", f"{path}/cpumap") or frozenset(),
            mem_total_kb=int(mem.get("MemTotal", 0)),
            mem_free_kb=int(mem.get("MemFree", 0)),
            hugepages=hugepages,
            distances=tuple(int(d) for d in distance if d.isdigit()),
        )
    return nodes


_PCI_ADDRESS = re.compile(r"^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$")


def read_nic(tree: SysfsTree, name: str) -> Nic | None:
    """A NIC backed by a device; virtual interfaces (lo, veth, bridges) give None. Its `irqs`
    are its PCI function's: the MSI/MSI-X vectors, else the legacy INTx line."""
    net = f"sys/class/net/{name}"
    if tree.readlink(f"{net}/device") is None:
        return None
    # Walk up from the netdev to the bus device that carries numa_node (for
    # virtio the netdev's parent is virtioN, whose parent is the PCI function).
    device = tree.resolve(f"{net}/device")
    pci = device
    while pci and tree.read(f"{pci}/numa_node") is None and "/" in pci:
        pci = os.path.dirname(pci)
    if tree.read(f"{pci}/numa_node") is None:
        pci = device
    driver_link = tree.readlink(f"{device}/driver") or tree.readlink(f"{pci}/driver")
    irqs = sorted(int(i) for i in tree.listdir(f"{pci}/msi_irqs") if i.isdigit())
    if not irqs:
        legacy = _int(tree.read(f"{pci}/irq"), 0)
        irqs = [legacy] if legacy else []
    queues = tree.listdir(f"{net}/queues")
    phc: int | None = None
    for holder in (device, pci):
        for entry in tree.listdir(f"{holder}/ptp"):
            if entry.startswith("ptp") and entry[3:].isdigit():
                phc = int(entry[3:])
                break
        if phc is not None:
            break
    address = os.path.basename(pci)
    numa = _int(tree.read(f"{pci}/numa_node"))
    mac = tree.read(f"{net}/address")
    state = tree.read(f"{net}/operstate")
    return Nic(
        name=name,
        numa_node=-1 if numa is None else numa,
        pci_address=address if _PCI_ADDRESS.match(address) else None,
        driver=os.path.basename(driver_link) if driver_link else None,
        local_cpus=_cpus(tree, f"{pci}/local_cpulist", f"{pci}/local_cpus") or frozenset(),
        irqs=tuple(irqs),
        rx_queues=sum(1 for q in queues if q.startswith("rx-")),
        tx_queues=sum(1 for q in queues if q.startswith("tx-")),
        phc_index=phc,
        mac=mac.strip() if mac else None,
        operstate=state.strip() if state else None,
    )


def nic_irqs(name: str, function_irqs: Iterable[int], interrupts: str) -> frozenset[int]:
    """The IRQs of network interface `name`, as the tuning role places them and the audit
    judges them: its PCI function's (`Nic.irqs`), and every IRQ that /proc/interrupts
    (`interrupts`) names after the interface, as drivers name their queue vectors
    ("ens1f0np0-TxRx-3")."""
    named = re.compile(rf"\b{re.escape(name)}\b")
    found = set(function_irqs)
    for line in interrupts.splitlines():
        head, _, rest = line.partition(":")
        if head.strip().isdigit() and named.search(rest):
            found.add(int(head))
    return frozenset(found)


def _virtualization(tree: SysfsTree, flags: frozenset[str]) -> str | None:
    hypervisor = (tree.read("sys/hypervisor/type") or "").strip()
    if hypervisor:
        return hypervisor
    if "hypervisor" not in flags:
        return None
    ident = " ".join(
        (tree.read(f"sys/class/dmi/id/{key}") or "").strip()
        for key in ("sys_vendor", "product_name")
    ).lower()
    for marker, kind in (
        ("qemu", "qemu"),
        ("kvm", "kvm"),
        ("vmware", "vmware"),
        ("microsoft", "microsoft"),
        ("amazon", "amazon"),
        ("google", "google"),
        ("virtualbox", "oracle"),
    ):
        if marker in ident:
            return kind
    return "vm"  # the CPU says it runs under a hypervisor that does not name itself


def _cpu_flags(tree: SysfsTree) -> frozenset[str]:
    for line in (tree.read("proc/cpuinfo") or "").splitlines():
        if line.startswith(("flags", "Features")):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def read(tree: SysfsTree, *, source: str = "") -> Topology:
    """Read the topology of the host whose sysfs and procfs lie below `tree`."""
    cpus = _read_cpus(tree)
    nodes = _read_nodes(tree, cpus)
    node_of = {cpu: node.id for node in nodes.values() for cpu in node.cpus}
    cpus = {cid: c._replace(node=node_of.get(cid)) for cid, c in cpus.items()}
    nics = {}
    for name in tree.listdir("sys/class/net"):
        nic = read_nic(tree, name)
        if nic is not None:
            nics[name] = nic
    flags = _cpu_flags(tree)
    release = (tree.read("proc/sys/kernel/osrelease") or "").strip()
    return Topology(
        cpus=cpus,
        nodes=nodes,
        nics=nics,
        kernel_release=release,
        virtualization=_virtualization(tree, flags),
        cpu_flags=flags,
        source=source,
    )


# ---------------------------------------------------------------- recording and loading


def snapshot(root: Path | str = "/") -> tuple[Topology, dict[str, Any]]:
    """Read the topology below `root` and return it with the files it was read from."""
    tree = RecordingTree(root)
    topology = read(tree, source=str(root))
    tree.read("proc/sys/kernel/hostname")
    return topology, tree.export()


def from_snapshot(data: dict[str, Any], *, source: str = "") -> Topology:
    """Read a topology from the files a snapshot carries (see `snapshot`)."""
    try:
        tree = MemoryTree(files=data["files"], links=data.get("links"), dirs=data.get("dirs"))
    except (KeyError, TypeError, AttributeError) as exc:
        raise TopologyError(f"{source or 'snapshot'}: no topology files in it ({exc})") from exc
    return read(tree, source=source)


def record(out: Path, *, root: Path | str = "/", note: str = "") -> Topology:
    """Write a tarball of every file the reader needs from the host below `root`."""
    from pathlib import Path  # the recorder's imports stay out of the collector's budget

    out = Path(out)
    topology, tree = snapshot(root)
    meta = {
        "format": 1,
        "recorded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "hostname": tree["files"].get("proc/sys/kernel/hostname", "").strip(),
        "kernel": topology.kernel_release,
        "note": note,
    }
    partial = out.with_name(out.name + ".partial")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        _write_tarball(partial, meta, tree)
        partial.replace(out)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise TopologyError(f"cannot write {out}: {exc.strerror or exc}") from exc
    return topology


def _write_tarball(partial: Path, meta: dict[str, Any], tree: dict[str, Any]) -> None:
    import tarfile

    def entry(rel: str, kind: bytes, mode: int, size: int = 0) -> tarfile.TarInfo:
        info = tarfile.TarInfo(rel)
        info.type, info.mode, info.size = kind, mode, size
        return info

    def add_file(tar: tarfile.TarFile, rel: str, text: str) -> None:
        data = text.encode()
        tar.addfile(entry(rel, tarfile.REGTYPE, 0o644, len(data)), io.BytesIO(data))

    with tarfile.open(partial, "w:gz") as tar:
        add_file(tar, META_FILE, json.dumps(meta, indent=2))  # first: what this tarball is
        dirs: set[str] = set()
        for rel in [*tree["dirs"], *map(os.path.dirname, [*tree["files"], *tree["links"]])]:
            parts = [p for p in rel.split("/") if p and p != "."]
            dirs.update("/".join(parts[:i]) for i in range(1, len(parts) + 1))
        for rel in sorted(dirs):  # parents sort before their children
            tar.addfile(entry(rel, tarfile.DIRTYPE, 0o755))
        for rel, target in sorted(tree["links"].items()):
            info = entry(rel, tarfile.SYMTYPE, 0o644)
            info.linkname = target
            tar.addfile(info)
        for rel, text in sorted(tree["files"].items()):
            add_file(tar, rel, text)


@contextmanager
def open_tree(source: Path | str) -> Iterator[SysfsTree]:
    """A SysfsTree for a directory (a live root or an extracted tree) or a recorded tarball."""
    import tarfile
    import tempfile
    from pathlib import Path

    path = Path(source)
    if path.is_dir():
        yield SysfsTree(path)
        return
    if not path.exists():
        raise TopologyError(f"{path}: no such file or directory (give a sysfs root or a tarball)")
    with tempfile.TemporaryDirectory(prefix="colotune-topology-") as tmp:
        try:
            with tarfile.open(path, "r:*") as tar:
                tar.extractall(tmp, filter="data")
        except (tarfile.TarError, EOFError, OSError, ValueError) as exc:
            raise TopologyError(
                f"{path}: unreadable or truncated topology tarball ({exc}); "
                "record it again with `colotune topology record OUT.tar.gz`"
            ) from exc
        if not (Path(tmp) / META_FILE).is_file():
            raise TopologyError(
                f"{path}: not a topology recording (no {META_FILE} inside); "
                "record one with `colotune topology record OUT.tar.gz`"
            )
        yield SysfsTree(tmp)


def load(source: Path | str) -> Topology:
    """Read the topology of a sysfs root directory or of a recorded tarball."""
    with open_tree(source) as tree:
        return read(tree, source=str(source))


def main(argv: list[str] | None = None) -> int:
    """Record on a host that has only python3: `python3 topology.py OUT.tar.gz`."""
    import sys
    from pathlib import Path

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: topology.py OUT.tar.gz", file=sys.stderr)
        return 2
    topo = record(Path(args[0]))
    print(f"recorded {len(topo.cpus)} CPUs, {len(topo.nodes)} nodes, {len(topo.nics)} NICs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
