"""The plan: the one place where placement is decided, from topology and profile.

`make_plan(topology, profile)` is a pure function. Its result feeds every
role, the validators, the audit and the launcher, so that no CPU set is ever
computed twice or by hand. Values pinned in the profile win, but are checked;
every problem is reported at once, naming host, variable, value and what
would be valid.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ConfigDict

from colotune.errors import ColotuneError, InputError
from colotune.host import cpulist
from colotune.host.topology import HUGEPAGE_1G_KB, Topology
from colotune.profile import HostProfile

# Linux 5.16 accepts hugepages=<node>:<count>,... on the command line.
PER_NODE_HUGEPAGES_KERNEL = (5, 16)
# Kernel arguments the plan owns; an extra argument may not set one of these again.
PLAN_ARGUMENTS = (
    "isolcpus",
    "nohz_full",
    "rcu_nocbs",
    "irqaffinity",
    "skew_tick",
    "tsc",
    "nosoftlockup",
    "nmi_watchdog",
    "transparent_hugepage",
    "default_hugepagesz",
    "hugepagesz",
    "hugepages",
    "processor.max_cstate",
    "intel_idle.max_cstate",
    "idle",
    "mitigations",
)


class PlanNic(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str | None
    numa_node: int
    pci_address: str | None = None
    driver: str | None = None


class PlanPtp(BaseModel):
    """Where ptp4l runs: the interface (ptp_interface, else the trading NIC) and the PTP
    hardware clock the topology shows for it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    interface: str
    phc_index: int | None  # /dev/ptpN behind the interface; None: none, or not a NIC we see


class Plan(BaseModel):
    """The placement of one host. CPU sets are kernel cpulist strings."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str | None
    housekeeping_cpus: str
    isolated_cpus: str  # the kernel's isolated set (isolcpus, nohz_full, rcu_nocbs)
    idle_cpus: str  # isolated but left idle (SMT siblings with tuning_smt: idle_sibling)
    irq_cpus: str
    numa_node: int
    nic: PlanNic
    hugepages: dict[str, dict[str, int]]  # node -> page size -> count
    hugepages_runtime: bool  # the kernel cannot place pages per node at boot
    kernel_args: list[str]
    threads: dict[str, int]  # latency-critical thread -> isolated CPU
    explanations: list[str]
    ptp: PlanPtp | None = None  # None: ptp_enabled is false (or no interface is known)

    def cpus(self, field: str) -> frozenset[int]:
        """A cpulist field as a set: plan.cpus("isolated_cpus")."""
        value = getattr(self, field)
        if not isinstance(value, str):
            raise AttributeError(f"{field} is not a CPU list of the plan")
        return cpulist.parse(value)

    @property
    def usable_cpus(self) -> frozenset[int]:
        """Isolated CPUs that engine threads may run on."""
        return self.cpus("isolated_cpus") - self.cpus("idle_cpus")


class PlanError(ColotuneError):
    """The profile cannot be placed on this topology; one line per problem."""

    def __init__(self, errors: list[InputError]) -> None:
        self.errors = errors
        super().__init__("\n  ".join(["cannot plan:", *(str(e) for e in errors)]))


def _cpus(cpus: Iterable[int]) -> str:
    return cpulist.render(cpus) or "none"


class _Planner:
    """Holds one planning run: the inputs, the errors found, the explanations."""

    def __init__(self, topo: Topology, prof: HostProfile, host: str | None) -> None:
        self.topo = topo
        self.prof = prof
        self.host = host
        self.errors: list[InputError] = []
        self.why: list[str] = []
        self.online = topo.online_cpus

    def error(self, variable: str, value: Any, problem: str) -> None:
        self.errors.append(
            InputError(host=self.host, variable=variable, value=value, problem=problem)
        )

    # ------------------------------------------------------------ inputs

    def pinned(self, variable: str) -> frozenset[int] | None:
        """A pinned cpulist, checked: every CPU exists and is online."""
        text = getattr(self.prof, variable)
        if text is None:
            return None
        cpus = cpulist.parse(text)
        missing = sorted(c for c in cpus if c not in self.topo.cpus)
        offline = sorted(c for c in cpus if c in self.topo.cpus and c not in self.online)
        if missing:
            self.error(
                variable,
                text,
                f"CPU {_cpus(missing)} does not exist on this host "
                f"(it has CPUs {_cpus(self.topo.cpus)})",
            )
        if offline:
            self.error(
                variable,
                text,
                f"CPU {_cpus(offline)} is offline (online: {_cpus(self.online)}); bring it "
                "online or leave it out",
            )
        return cpus & self.online

    def split_cores(self, cpus: frozenset[int]) -> list[frozenset[int]]:
        """Cores of which `cpus` holds some online threads but not all."""
        return [core for core in self.topo.cores() if core & cpus and not core <= cpus]

    def node_cpus(self, node: int) -> frozenset[int]:
        return self.topo.nodes[node].cpus & self.online

    def cpu_less(self, node: int) -> str:
        """Why `node`, which has no online CPU, cannot be the trading node, and which to use."""
        topo = self.topo
        cpus = topo.nodes[node].cpus
        if cpus:
            what = f"node {node} has no online CPUs (CPUs {_cpus(cpus)} are offline)"
        elif topo.nodes[node].mem_total_kb:
            what = f"node {node} has no CPUs (memory-only: CXL/HBM)"
        else:
            what = f"node {node} has no CPUs and no memory"
        ids = sorted(topo.nodes)
        distances = topo.nodes[node].distances  # one per online node, in node order
        with_cpus = sorted(
            (n for n in ids if self.node_cpus(n)),
            key=lambda n: (distances[ids.index(n)] if len(distances) == len(ids) else 255, n),
        )
        if not with_cpus:
            return f"{what}, and no node has online CPUs"
        return (
            f"{what}; the trading CPUs must be on a node with CPUs: set tuning_numa_node to "
            f"{with_cpus[0]} (the nearest; nodes with CPUs: "
            f"{', '.join(map(str, sorted(with_cpus)))})"
        )

    def trading_node(self) -> tuple[int, PlanNic] | None:
        prof, topo = self.prof, self.topo
        nodes = sorted(topo.nodes)
        node = prof.tuning_numa_node
        if node is not None and node not in topo.nodes:
            self.error("tuning_numa_node", node, f"no such NUMA node (this host has {nodes})")
            return None
        if node is not None and not self.node_cpus(node):
            self.error("tuning_numa_node", node, self.cpu_less(node))
            return None
        if prof.tuning_nic is None:
            assert node is not None  # the profile requires one of the two
            self.why.append(f"trading node {node}: tuning_numa_node (no NIC named yet)")
            return node, PlanNic(name=None, numa_node=node)
        nic = topo.nics.get(prof.tuning_nic)
        if nic is None:
            self.error(
                "tuning_nic",
                prof.tuning_nic,
                f"no such NIC on this host (NICs: {', '.join(sorted(topo.nics)) or 'none'})",
            )
            return None
        ref = PlanNic(
            name=nic.name,
            numa_node=nic.numa_node,
            pci_address=nic.pci_address,
            driver=nic.driver,
        )
        unusable = problem = ""
        if nic.numa_node >= 0 and nic.numa_node not in topo.nodes:
            unusable = "which is not an online node"
            problem = (
                f"NIC {nic.name} reports node {nic.numa_node}, which is not an online NUMA "
                f"node of this host (nodes: {nodes}); set tuning_numa_node to the node its "
                "PCIe slot hangs off"
            )
        elif nic.numa_node >= 0 and not self.node_cpus(nic.numa_node):
            unusable = "which has no " + ("online " if topo.nodes[nic.numa_node].cpus else "")
            unusable += "CPUs"
            problem = f"NIC {nic.name} is on node {nic.numa_node}, but " + self.cpu_less(
                nic.numa_node
            )
        if problem:
            if node is not None:
                self.why.append(
                    f"trading node {node}: tuning_numa_node (NIC {nic.name} is on node "
                    f"{nic.numa_node}, {unusable})"
                )
                return node, ref
            self.error("tuning_nic", prof.tuning_nic, problem)
            return None
        if nic.numa_node >= 0:
            if node is not None and node != nic.numa_node:
                self.error(
                    "tuning_numa_node",
                    node,
                    f"NIC {nic.name} is on node {nic.numa_node}; trading CPUs on another node "
                    f"pay a cross-node hop per packet (set {nic.numa_node} or remove it)",
                )
                return None
            self.why.append(f"trading node {nic.numa_node}: the node of NIC {nic.name}")
            return nic.numa_node, ref
        if node is not None:
            self.why.append(
                f"trading node {node}: tuning_numa_node (NIC {nic.name} reports no node)"
            )
            return node, ref
        if len(nodes) == 1:
            self.why.append(
                f"trading node {nodes[0]}: NIC {nic.name} reports no node (-1), and the host "
                "has one node"
            )
            return nodes[0], ref
        self.error(
            "tuning_nic",
            prof.tuning_nic,
            f"NIC {nic.name} reports no NUMA node (-1) on a host with nodes {nodes}; set "
            "tuning_numa_node to the node its PCIe slot hangs off",
        )
        return None

    # ------------------------------------------------------------ CPU sets

    def isolated(self, node: int) -> frozenset[int]:
        """The kernel's isolated set: pinned and checked, or whole cores of `node`."""
        prof, topo = self.prof, self.topo
        pinned = self.pinned("tuning_isolated_cpus")
        pinned_hk = self.pinned("tuning_housekeeping_cpus")
        if pinned is not None:
            for core in self.split_cores(pinned):
                self.error(
                    "tuning_isolated_cpus",
                    prof.tuning_isolated_cpus,
                    f"splits the core of CPUs {_cpus(core)} (SMT siblings); isolate all of "
                    f"{_cpus(core)} or none",
                )
            self.why.append(f"isolated CPUs {_cpus(pinned)}: pinned by tuning_isolated_cpus")
            return pinned
        if pinned_hk is not None:
            rest = self.online - pinned_hk
            for core in self.split_cores(rest):
                self.error(
                    "tuning_housekeeping_cpus",
                    prof.tuning_housekeeping_cpus,
                    f"splits the core of CPUs {_cpus(core)} (SMT siblings) with the isolated "
                    f"CPUs; keep all of {_cpus(core)} for housekeeping or none",
                )
            self.why.append(
                f"isolated CPUs {_cpus(rest)}: every online CPU outside tuning_housekeeping_cpus"
            )
            return rest
        node_cpus = topo.nodes[node].cpus & self.online
        cores = [c for c in topo.cores() if c <= node_cpus]
        housekeeping_cores = [c for c in cores if 0 in c][:1]
        for core in cores:
            if len(housekeeping_cores) >= prof.tuning_housekeeping_cores_per_node:
                break
            if core not in housekeeping_cores:
                housekeeping_cores.append(core)
        candidates = [c for c in cores if c not in housekeeping_cores]
        types = {topo.cpus[min(c)].core_type for c in candidates}
        if "performance" in types and "efficiency" in types:
            candidates = [c for c in candidates if topo.cpus[min(c)].core_type == "performance"]
            self.why.append("hybrid CPU: only performance cores are isolated")
        wanted = prof.tuning_isolated_cores
        if wanted is not None and wanted > len(candidates):
            self.error(
                "tuning_isolated_cores",
                wanted,
                f"node {node} has {len(candidates)} core(s) left to isolate after housekeeping "
                f"(at most {len(candidates)})",
            )
            return frozenset()
        chosen = candidates[:wanted] if wanted is not None else candidates
        isolated = frozenset(cpu for core in chosen for cpu in core)
        if housekeeping_cores:
            kept = frozenset(cpu for core in housekeeping_cores for cpu in core)
            self.why.append(
                f"housekeeping on node {node}: core(s) {_cpus(kept)}"
                + (" (CPU 0's core)" if 0 in kept else "")
            )
        self.why.append(
            f"isolated CPUs {_cpus(isolated)}: {len(chosen)} whole core(s) of node {node}"
            + ("" if wanted is None else f" (tuning_isolated_cores={wanted})")
        )
        return isolated

    def check_isolated(self, isolated: frozenset[int]) -> None:
        prof, topo = self.prof, self.topo
        variable = "tuning_isolated_cpus" if prof.tuning_isolated_cpus else "tuning_numa_node"
        if not isolated:
            self.error(
                variable,
                prof.tuning_isolated_cpus or prof.tuning_numa_node,
                "leaves no CPU to isolate; the trading node needs at least one core beyond "
                "its housekeeping core(s)",
            )
            return
        if 0 in isolated:
            self.error(
                "tuning_isolated_cpus",
                prof.tuning_isolated_cpus,
                "includes CPU 0, which keeps timekeeping and boot-time work and cannot be "
                "nohz_full; keep CPU 0's core for housekeeping",
            )
        for node in topo.nodes.values():
            online = node.cpus & self.online
            if online and online <= isolated:
                self.error(
                    "tuning_isolated_cpus",
                    prof.tuning_isolated_cpus,
                    f"isolates every CPU of node {node.id} ({_cpus(online)}); each node keeps "
                    "at least one housekeeping core",
                )

    def housekeeping(self, isolated: frozenset[int]) -> frozenset[int]:
        housekeeping = self.online - isolated
        pinned = self.pinned("tuning_housekeeping_cpus")
        if pinned is not None and pinned != housekeeping:
            neither = self.online - isolated - pinned
            if neither:
                self.error(
                    "tuning_housekeeping_cpus",
                    self.prof.tuning_housekeeping_cpus,
                    f"CPUs {_cpus(neither)} are neither isolated nor housekeeping; every "
                    f"online CPU is one or the other (housekeeping would be "
                    f"{_cpus(housekeeping)})",
                )
        return housekeeping

    def irq_cpus(
        self, node: int, housekeeping: frozenset[int], isolated: frozenset[int]
    ) -> frozenset[int]:
        pinned = self.pinned("tuning_irq_cpus")
        if pinned is not None:
            if pinned & isolated:
                self.error(
                    "tuning_irq_cpus",
                    self.prof.tuning_irq_cpus,
                    f"includes isolated CPUs {_cpus(pinned & isolated)}; interrupts belong on "
                    f"housekeeping CPUs ({_cpus(housekeeping)})",
                )
            self.why.append(f"IRQ CPUs {_cpus(pinned)}: pinned by tuning_irq_cpus")
            return pinned
        local = housekeeping & self.topo.nodes[node].cpus
        if local:
            self.why.append(f"IRQ CPUs {_cpus(local)}: housekeeping CPUs on node {node}")
            return local
        distances = self.topo.nodes[node].distances
        order = sorted(
            (n for n in self.topo.nodes if n != node),
            key=lambda n: (distances[n] if n < len(distances) else 255, n),
        )
        for other in order:
            near = housekeeping & self.topo.nodes[other].cpus
            if near:
                self.why.append(
                    f"IRQ CPUs {_cpus(near)}: node {node} has no housekeeping CPU, "
                    f"nearest node {other}"
                )
                return near
        return housekeeping

    # ------------------------------------------------------------ memory and kernel

    def hugepages(self, node: int) -> dict[str, dict[str, int]]:
        prof, topo = self.prof, self.topo
        asked = prof.tuning_hugepages_1g
        wanted = dict(asked) if isinstance(asked, dict) else {node: asked}
        if any(wanted.values()) and not topo.has_1g_pages:
            self.error(
                "tuning_hugepages_1g",
                asked,
                "this CPU has no 1 GiB page support (no pdpe1gb flag); set 0",
            )
        result: dict[str, dict[str, int]] = {}
        margin_kb = prof.tuning_hugepages_min_free_mb * 1024
        for n in sorted(set(topo.nodes) | set(wanted)):
            count = wanted.get(n, 0)
            if n not in topo.nodes:
                self.error(
                    "tuning_hugepages_1g", asked, f"no NUMA node {n} (nodes: {sorted(topo.nodes)})"
                )
                continue
            total_kb = topo.nodes[n].mem_total_kb
            fits = max(0, (total_kb - margin_kb) // HUGEPAGE_1G_KB)
            if count > fits:
                self.error(
                    "tuning_hugepages_1g",
                    asked,
                    f"{count} x 1 GiB on node {n} does not fit: the node has "
                    f"{total_kb // 1024} MiB and keeps {prof.tuning_hugepages_min_free_mb} MiB "
                    f"free (tuning_hugepages_min_free_mb), so at most {fits}",
                )
            result[str(n)] = {"1G": count}
        if any(wanted.values()):
            placed = ", ".join(f"{c} on node {n}" for n, c in sorted(wanted.items()) if c)
            self.why.append(f"1 GiB hugepages: {placed}")
        return result

    def kernel_args(
        self,
        *,
        isolated: frozenset[int],
        housekeeping: frozenset[int],
        hugepages: dict[str, dict[str, int]],
        runtime: bool,
    ) -> list[str]:
        prof = self.prof
        iso = cpulist.render(isolated)
        args = [
            f"isolcpus=managed_irq,domain,{iso}",
            f"nohz_full={iso}",
            f"rcu_nocbs={iso}",
            f"irqaffinity={cpulist.render(housekeeping)}",
            "skew_tick=1",
            "tsc=reliable",
            "nosoftlockup",
            "nmi_watchdog=0",
            "transparent_hugepage=never",
        ]
        if any(sizes["1G"] for sizes in hugepages.values()):
            args += ["default_hugepagesz=1G", "hugepagesz=1G"]
            if not runtime:
                per_node = ",".join(f"{n}:{sizes['1G']}" for n, sizes in hugepages.items())
                args.append(f"hugepages={per_node}")
        if prof.tuning_idle == "c1":
            args += ["processor.max_cstate=1", "intel_idle.max_cstate=0"]
        elif prof.tuning_idle == "poll":
            args.append("idle=poll")
        if prof.tuning_mitigations_off:
            args.append("mitigations=off")
            self.why.append("mitigations=off: asked for by tuning_mitigations_off")
        for extra in prof.tuning_kernel_args_extra:
            key = extra.split("=", 1)[0]
            if key in PLAN_ARGUMENTS:
                self.error(
                    "tuning_kernel_args_extra",
                    extra,
                    f"{key} is set by the plan itself; change the profile variable that "
                    f"drives it instead of adding it again",
                )
            elif extra in args:
                self.error("tuning_kernel_args_extra", extra, "listed twice")
            else:
                args.append(extra)
        return args

    def threads(self, usable: frozenset[int]) -> dict[str, int]:
        prof = self.prof
        names = prof.trader_threads
        if prof.trader_thread_cpus is not None:
            threads: dict[str, int] = {}
            for name, cpu in prof.trader_thread_cpus.items():
                if cpu not in usable:
                    self.error(
                        "trader_thread_cpus",
                        prof.trader_thread_cpus,
                        f"{name} -> CPU {cpu}, which is not an isolated CPU for use "
                        f"({_cpus(usable)})",
                    )
                elif cpu in threads.values():
                    self.error(
                        "trader_thread_cpus",
                        prof.trader_thread_cpus,
                        f"CPU {cpu} is given to two threads; each thread gets its own",
                    )
                threads[name] = cpu
            free = sorted(usable - set(threads.values()))
            for name in names:
                if name not in threads and free:
                    threads[name] = free.pop(0)
        else:
            threads = dict(zip(names, sorted(usable), strict=False))
        if len(threads) < len(names):
            self.error(
                "trader_threads",
                names,
                f"{len(names)} latency-critical threads need {len(names)} isolated CPUs for use; "
                f"the plan has {len(usable)} ({_cpus(usable)}): isolate more cores or list "
                "fewer threads",
            )
        if threads:
            self.why.append(
                "threads: "
                + ", ".join(f"{n} on CPU {c}" for n, c in threads.items())
                + " (one isolated CPU each)"
            )
        return threads


def make_plan(topology: Topology, profile: HostProfile, *, host: str | None = None) -> Plan:
    """Place one host: CPU sets, IRQ CPUs, hugepages, kernel arguments, engine threads.

    Raises PlanError listing every problem found; returns a Plan that passes
    `check_plan`.
    """
    planner = _Planner(topology, profile, host)
    chosen = planner.trading_node()
    if chosen is None:
        raise PlanError(planner.errors)
    node, nic = chosen
    isolated = planner.isolated(node)
    planner.check_isolated(isolated)
    housekeeping = planner.housekeeping(isolated)
    irq = planner.irq_cpus(node, housekeeping, isolated)
    idle: frozenset[int] = frozenset()
    if profile.tuning_smt == "idle_sibling":
        idle = frozenset(
            cpu for core in topology.cores() if core <= isolated for cpu in core - {min(core)}
        )
        if idle:
            planner.why.append(
                f"idle siblings {_cpus(idle)}: isolated but unused (tuning_smt: idle_sibling)"
            )
    far = isolated - topology.nodes[node].cpus
    if far:
        planner.why.append(
            f"warning: isolated CPUs {_cpus(far)} are not on the trading node {node}"
        )
    hugepages = planner.hugepages(node)
    runtime = topology.kernel_version() < PER_NODE_HUGEPAGES_KERNEL and any(
        s["1G"] for s in hugepages.values()
    )
    if runtime:
        planner.why.append(
            f"kernel {topology.kernel_release} predates per-node hugepages= (5.16): pages are "
            "allocated at runtime on each node"
        )
    args = planner.kernel_args(
        isolated=isolated, housekeeping=housekeeping, hugepages=hugepages, runtime=runtime
    )
    threads = planner.threads(isolated - idle)
    if planner.errors:
        raise PlanError(planner.errors)
    plan = Plan(
        host=host,
        housekeeping_cpus=cpulist.render(housekeeping),
        isolated_cpus=cpulist.render(isolated),
        idle_cpus=cpulist.render(idle),
        irq_cpus=cpulist.render(irq),
        numa_node=node,
        nic=nic,
        hugepages=hugepages,
        hugepages_runtime=runtime,
        kernel_args=args,
        threads=threads,
        explanations=planner.why,
        ptp=plan_ptp(topology, profile),
    )
    problems = check_plan(plan, topology)
    if problems:  # a bug in the planner, not in the input: say so plainly
        raise ColotuneError("internal error, the plan fails its own checks: " + "; ".join(problems))
    return plan


def plan_ptp(topology: Topology, prof: HostProfile) -> PlanPtp | None:
    """The PTP part of the plan: the interface the ptp role configures and the PTP
    controls judge (HostProfile.ptp_nic), and its clock."""
    interface = prof.ptp_nic
    if not prof.ptp_enabled or interface is None:
        return None
    seen = topology.nics.get(interface)
    return PlanPtp(
        interface=interface,
        phc_index=seen.phc_index if seen is not None else None,
    )


def check_plan(plan: Plan, topology: Topology) -> list[str]:
    """The plan's consistency rules, on any plan (made here or read back from JSON)."""
    problems: list[str] = []
    online = topology.online_cpus
    iso, hk = plan.cpus("isolated_cpus"), plan.cpus("housekeeping_cpus")
    idle, irq = plan.cpus("idle_cpus"), plan.cpus("irq_cpus")
    if not iso:
        problems.append("no isolated CPU")
    if iso & hk:
        problems.append(f"isolated and housekeeping overlap on {_cpus(iso & hk)}")
    if (iso | hk) != online:
        problems.append(f"isolated + housekeeping ({_cpus(iso | hk)}) != online ({_cpus(online)})")
    if not idle <= iso:
        problems.append(f"idle CPUs {_cpus(idle - iso)} are not isolated")
    if irq & iso or not irq:
        problems.append(f"IRQ CPUs {_cpus(irq)} must be non-empty housekeeping CPUs")
    for core in topology.cores():
        if core & iso and not core <= iso:
            problems.append(f"core {_cpus(core)} is split between isolated and housekeeping")
    for name, cpu in plan.threads.items():
        if cpu not in plan.usable_cpus:
            problems.append(f"thread {name} on CPU {cpu}, not an isolated CPU for use")
    if len(set(plan.threads.values())) != len(plan.threads):
        problems.append("two threads share a CPU")
    keys = [arg.split("=", 1)[0] for arg in plan.kernel_args]
    duplicated = sorted({k for k in keys if keys.count(k) > 1})
    if duplicated:
        problems.append(f"kernel arguments repeated: {', '.join(duplicated)}")
    return problems
