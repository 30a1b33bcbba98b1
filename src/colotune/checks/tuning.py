"""Controls for roles/tuning: effective kernel state against the plan (TUN-0xx)."""

from __future__ import annotations

import re

from colotune import cpulist, tuning
from colotune.checks.base import (
    Context,
    Result,
    Status,
    control,
    cpus,
    not_applicable,
)
from colotune.facts import parsers

Outcome = tuple[Status, str, str, str]
CPU = "sys/devices/system/cpu"
REBOOT_FIX = "run the tuning role outside market hours, then reboot through playbooks/reboot.yml"
# Interrupts per second an isolated CPU may take in the measured window (an untuned CPU
# takes about 1000/s from the tick alone).
MAX_IRQ_RATE = 100.0
# Deepest idle exit latency (us) allowed with tuning_idle: c1.
C1_MAX_LATENCY_US = 2
# IRQs the kernel manages itself (spread over CPUs, refusing affinity changes): reported only.
MANAGED_IRQ = re.compile(r"nvme\d+q\d+|virtio\d+-(req|input|output|request)\.\d+|megasas|mpt3sas")
# Kernel messages that say an isolation argument did not take effect.
IGNORED_ISOLATION = re.compile(
    r"nohz unsupported|housekeeping.*unsupported|unknown kernel command line parameters"
    r"|isolcpus.*(ignor|invalid)|nohz_full.*(ignor|invalid|not supported)",
    re.IGNORECASE,
)


def _same_cpus(ctx: Context, rel: str, what: str, fix: str) -> Outcome:
    expected = ctx.isolated
    actual = ctx.snap.cpus(rel)
    if actual is None:
        return ("fail", cpus(expected), f"no {rel}", f"The kernel does not report {what}; {fix}.")
    if actual == expected:
        return ("pass", cpus(expected), cpus(actual), f"{what} match the plan.")
    return ("fail", cpus(expected), cpus(actual), f"{what} differ from the plan; {fix}.")


@control(
    "TUN-001",
    "Kernel command line carries each plan argument exactly once",
    guards="every boot-time source of jitter (isolation, tick, RCU, watchdogs, THP, C-states)",
    risk="reboot",
    role_tag="tuning_cmdline",
)
def kernel_arguments(ctx: Context) -> Outcome:
    problems = tuning.cmdline_problems(ctx.snap.cmdline, ctx.plan.kernel_args)
    expected = " ".join(ctx.plan.kernel_args)
    if not problems:
        return ("pass", expected, "all present once", "The running kernel booted with the plan.")
    return (
        "fail",
        expected,
        "; ".join(problems),
        f"The kernel booted without the plan's arguments; {REBOOT_FIX}.",
    )


@control(
    "TUN-002",
    "Isolated CPUs in effect (/sys/devices/system/cpu/isolated)",
    guards="scheduler load balancing and unbound work landing on trading cores",
    risk="reboot",
    role_tag="tuning_cmdline",
)
def isolated_in_effect(ctx: Context) -> Outcome:
    return _same_cpus(ctx, f"{CPU}/isolated", "Isolated CPUs", REBOOT_FIX)


@control(
    "TUN-003",
    "Tickless CPUs in effect (/sys/devices/system/cpu/nohz_full)",
    guards="the scheduler tick (about 1000 interruptions/s per CPU)",
    risk="reboot",
    role_tag="tuning_cmdline",
)
def nohz_in_effect(ctx: Context) -> Outcome:
    unsupported = [line for line in ctx.snap.kmsg if "nohz unsupported" in line.lower()]
    if unsupported:
        return (
            "fail",
            cpus(ctx.isolated),
            unsupported[0],
            "The kernel ignores nohz_full (built without CONFIG_NO_HZ_FULL); boot a kernel "
            "with full dynticks support.",
        )
    return _same_cpus(
        ctx,
        f"{CPU}/nohz_full",
        "nohz_full CPUs",
        REBOOT_FIX + " (a kernel without CONFIG_NO_HZ_FULL has no nohz_full file)",
    )


@control(
    "TUN-004",
    "RCU callbacks offloaded from isolated CPUs",
    guards="RCU callback processing on trading cores",
    risk="reboot",
    role_tag="tuning_cmdline",
)
def rcu_offload(ctx: Context) -> Outcome:
    if (ctx.snap.raw.get("kmsg") or {}).get("error"):
        return not_applicable("the kernel log is not readable by the audit user")
    offloaded: frozenset[int] | None = None
    for line in ctx.snap.kmsg:
        match = re.search(r"Offload RCU callbacks from CPUs:\s*([\d,\-]+)", line)
        if match:
            offloaded = cpulist.parse(match.group(1))
    if offloaded is None:
        if "rcu_nocbs" in " ".join(ctx.snap.cmdline):
            return not_applicable("the kernel log no longer holds the boot messages")
        return (
            "fail",
            cpus(ctx.isolated),
            "no RCU offload",
            f"RCU callbacks run on every CPU; {REBOOT_FIX}.",
        )
    if ctx.isolated <= offloaded:
        return ("pass", cpus(ctx.isolated), cpus(offloaded), "RCU callbacks are offloaded.")
    return (
        "fail",
        cpus(ctx.isolated),
        cpus(offloaded),
        f"CPUs {cpus(ctx.isolated - offloaded)} still run RCU callbacks; {REBOOT_FIX}.",
    )


@control(
    "TUN-005",
    "Kernel log shows no ignored isolation argument",
    guards="isolation arguments present on the command line but not in effect",
    risk="reboot",
    role_tag="tuning_cmdline",
)
def no_ignored_isolation(ctx: Context) -> Outcome:
    kmsg = ctx.snap.raw.get("kmsg") or {}
    if kmsg.get("error"):
        return not_applicable(f"the kernel log is not readable ({kmsg['error']})")
    bad = [line for line in ctx.snap.kmsg if IGNORED_ISOLATION.search(line)]
    if not bad:
        return ("pass", "no such message", "none", "The kernel accepted the isolation arguments.")
    return (
        "fail",
        "no such message",
        "; ".join(bad[:3]),
        "The kernel ignored part of the isolation; fix the argument or the kernel build it "
        "names, then reboot through playbooks/reboot.yml.",
    )


@control(
    "TUN-006",
    "1 GiB hugepages per NUMA node as planned",
    guards="TLB misses and page faults on the trading path; memory on the far node",
    risk="reboot",
    role_tag="tuning_hugepages",
)
def hugepages(ctx: Context) -> Outcome:
    expected = {int(n): sizes.get("1G", 0) for n, sizes in ctx.plan.hugepages.items()}
    actual = ctx.snap.hugepages()
    show_expected = ", ".join(f"node {n}: {c}" for n, c in sorted(expected.items()))
    show_actual = ", ".join(f"node {n}: {c}" for n, c in sorted(actual.items())) or "no 1G pool"
    if not any(expected.values()) and not any(actual.values()):
        return ("pass", show_expected or "none", show_actual, "No 1 GiB pages planned, none held.")
    wrong = [
        n for n in sorted(set(expected) | set(actual)) if expected.get(n, 0) != actual.get(n, 0)
    ]
    if not wrong:
        return ("pass", show_expected, show_actual, "1 GiB pages are where the plan puts them.")
    fix = (
        "allocate them at runtime on the right node (tuning role)"
        if ctx.plan.hugepages_runtime
        else REBOOT_FIX
    )
    return (
        "fail",
        show_expected,
        show_actual,
        f"1 GiB page counts differ on node(s) {wrong}; {fix}.",
    )


def _no_cpufreq(ctx: Context) -> str:
    if ctx.snap.virtualization:
        return "guest has no cpufreq"
    return "host has no cpufreq driver loaded"


@control(
    "TUN-007",
    "CPU frequency governor as profiled on every CPU",
    guards="frequency transitions and ramp-up latency",
    risk="live",
    role_tag="tuning_cpu",
)
def governor(ctx: Context) -> Outcome:
    governors = ctx.snap.per_cpu("scaling_governor")
    if not governors:
        return not_applicable(_no_cpufreq(ctx))
    wanted = ctx.profile.tuning_governor
    wrong = {c: g for c, g in governors.items() if g != wanted}
    if not wrong:
        return ("pass", wanted, f"{wanted} on CPUs {cpus(governors)}", "Governor as profiled.")
    actual = ", ".join(f"CPU {cpus([c])}: {g}" for c, g in sorted(wrong.items()))
    return (
        "fail",
        wanted,
        actual,
        f"Set the governor back to {wanted} (tuning role, tag tuning_cpu).",
    )


@control(
    "TUN-008",
    "Energy-performance preference is performance",
    guards="hardware P-state (HWP) down-clocking between bursts",
    risk="live",
    role_tag="tuning_cpu",
)
def energy_preference(ctx: Context) -> Outcome:
    prefs = ctx.snap.per_cpu("energy_performance_preference")
    if not prefs:
        if not ctx.snap.per_cpu("scaling_governor"):
            return not_applicable(_no_cpufreq(ctx))
        return not_applicable("the cpufreq driver has no energy_performance_preference")
    wrong = {c: p for c, p in prefs.items() if p != "performance"}
    if not wrong:
        return ("pass", "performance", "performance", "EPP is performance everywhere.")
    actual = ", ".join(f"CPU {c}: {p}" for c, p in sorted(wrong.items()))
    return ("fail", "performance", actual, "Set EPP to performance (tuning role, tag tuning_cpu).")


@control(
    "TUN-009",
    "Turbo/boost as profiled",
    guards="frequency changes when turbo headroom comes and goes",
    risk="live",
    role_tag="tuning_cpu",
)
def turbo(ctx: Context) -> Outcome:
    wanted = ctx.profile.tuning_turbo
    if wanted == "unchanged":
        return not_applicable("tuning_turbo is unchanged, turbo is left as the host has it")
    no_turbo = ctx.snap.value(f"{CPU}/intel_pstate/no_turbo")
    boost = ctx.snap.value(f"{CPU}/cpufreq/boost")
    if no_turbo is not None:
        actual = "off" if no_turbo == "1" else "on"
    elif boost is not None:
        actual = "on" if boost == "1" else "off"
    else:
        return not_applicable(_no_cpufreq(ctx) if ctx.snap.virtualization else "no turbo control")
    if actual == wanted:
        return ("pass", wanted, actual, "Turbo as profiled.")
    return ("fail", wanted, actual, f"Turn turbo {wanted} (tuning role, tag tuning_cpu).")


@control(
    "TUN-027",
    "CPU frequency floor (scaling_min_freq) as profiled",
    guards="clocking down between bursts and the ramp back up when a burst arrives",
    risk="live",
    role_tag="tuning_cpu",
)
def min_frequency(ctx: Context) -> Outcome:
    wanted = ctx.profile.tuning_min_freq
    if wanted == "unchanged":
        return not_applicable("tuning_min_freq is unchanged, the floor is left as the host has it")
    floors = ctx.snap.per_cpu("scaling_min_freq")
    if not floors:
        return not_applicable(_no_cpufreq(ctx))
    ceilings = ctx.snap.per_cpu("scaling_max_freq")
    expected = "scaling_max_freq (max)" if wanted == "max" else f"{wanted} kHz"
    wrong: dict[int, str] = {}
    for cpu, floor in floors.items():
        target = ceilings.get(cpu) if wanted == "max" else str(wanted)
        if floor != target:
            wrong[cpu] = f"{floor} kHz" + (f" (max {target} kHz)" if wanted == "max" else "")
    if not wrong:
        return ("pass", expected, f"{expected} on CPUs {cpus(floors)}", "Frequency floor set.")
    actual = ", ".join(f"CPU {c}: {text}" for c, text in sorted(wrong.items()))
    return (
        "fail",
        expected,
        actual,
        f"Pin the frequency floor back to {expected} (tuning role, tag tuning_cpu).",
    )


@control(
    "TUN-010",
    "Deep C-states held off on isolated CPUs",
    guards="idle-state exit latency (tens to hundreds of us from deep C-states)",
    risk="reboot",
    role_tag="tuning_cmdline",
)
def idle_states(ctx: Context) -> Outcome:
    wanted = ctx.profile.tuning_idle
    if wanted == "default":
        return not_applicable("tuning_idle is default, the kernel picks idle states")
    states = {cpu: ctx.snap.idle_states(cpu) for cpu in sorted(ctx.isolated)}
    if not any(states.values()):
        if wanted == "poll":
            return ("pass", "poll only", "no cpuidle states", "CPUs poll when idle.")
        return not_applicable("the host exposes no cpuidle states")
    deep: list[str] = []
    for cpu, found in states.items():
        for state in found:
            if state["disabled"]:
                continue
            too_deep = (
                state["name"] != "POLL"
                if wanted == "poll"
                else (state["latency"] or 0) > C1_MAX_LATENCY_US
            )
            if too_deep:
                deep.append(f"CPU {cpu} {state['name']} ({state['latency']} us)")
    expected = (
        "POLL only" if wanted == "poll" else f"no state above {C1_MAX_LATENCY_US} us exit latency"
    )
    if not deep:
        return ("pass", expected, "none deeper", "Deep C-states are held off.")
    return ("fail", expected, "; ".join(deep[:4]), f"Deep C-states are enabled; {REBOOT_FIX}.")


def _managed(name: str) -> bool:
    return bool(MANAGED_IRQ.search(name))


@control(
    "TUN-011",
    "No movable IRQ's effective affinity on an isolated CPU",
    guards="device interrupts landing on trading cores",
    risk="live",
    role_tag="tuning_irq",
)
def irqs_off_isolated(ctx: Context) -> Result:
    bad: list[str] = []
    managed: list[str] = []
    for irq, aff in sorted(ctx.snap.irqs.items()):
        text = aff.get("effective") or aff.get("affinity")
        if text is None:
            continue
        on = cpulist.parse(text) & ctx.isolated
        if not on:
            continue
        name = ctx.snap.irq_name(irq)
        entry = f"IRQ {irq} ({name or '?'}) on {cpus(on)}"
        (managed if _managed(name) else bad).append(entry)
    notes = tuple(f"managed by the kernel, reported not failed: {m}" for m in managed)
    if not bad:
        return Result(
            "TUN-011",
            "pass",
            f"none on {cpus(ctx.isolated)}",
            "none",
            "IRQs avoid the isolated CPUs.",
            notes,
        )
    return Result(
        "TUN-011",
        "fail",
        f"none on {cpus(ctx.isolated)}",
        "; ".join(bad[:6]) + (f" (+{len(bad) - 6} more)" if len(bad) > 6 else ""),
        f"Move these IRQs to CPUs {cpus(ctx.irq_cpus)} (tuning role, tag tuning_irq).",
        notes,
    )


@control(
    "TUN-012",
    "Trading NIC IRQs on the plan's IRQ CPUs",
    guards="NIC interrupts on trading cores or on the far node",
    risk="live",
    role_tag="tuning_irq",
)
def nic_irqs(ctx: Context) -> Outcome:
    name = ctx.plan.nic.name
    if not name:
        return not_applicable("the plan names no trading NIC yet")
    nic = ctx.snap.topology.nics.get(name)
    if nic is None:
        return (
            "fail",
            f"NIC {name}",
            "absent",
            f"NIC {name} is not on the host; check tuning_nic.",
        )
    numbers = set(nic.irqs)
    for irq, row in ctx.snap.interrupts["irqs"].items():
        if irq.isdigit() and re.search(rf"\b{re.escape(name)}\b", row["desc"]):
            numbers.add(int(irq))
    wrong = []
    for irq in sorted(numbers):
        aff = ctx.snap.irqs.get(irq)
        if not aff:
            continue
        text = aff.get("effective") or aff.get("affinity") or ""
        where = cpulist.parse(text)
        if where and not where <= ctx.irq_cpus:
            wrong.append(f"IRQ {irq} on {cpus(where)}")
    if not numbers:
        return not_applicable(f"NIC {name} reports no IRQs")
    if not wrong:
        return ("pass", cpus(ctx.irq_cpus), f"{len(numbers)} IRQs inside", "NIC IRQs are placed.")
    return (
        "fail",
        cpus(ctx.irq_cpus),
        "; ".join(wrong[:6]),
        f"Re-apply the IRQ affinity of {name} (tuning role, tag tuning_irq); check the "
        "link-up service that keeps it after a link flap.",
    )


@control(
    "TUN-013",
    "Default IRQ affinity on the plan's IRQ CPUs",
    guards="newly requested IRQs landing on trading cores",
    risk="live",
    role_tag="tuning_irq",
)
def default_affinity(ctx: Context) -> Outcome:
    text = ctx.snap.value("proc/irq/default_smp_affinity")
    if text is None:
        return (
            "fail",
            cpus(ctx.irq_cpus),
            "unreadable",
            "Run the audit as a user who can read /proc/irq.",
        )
    actual = parsers.parse_mask(text) & (ctx.snap.online_cpus or frozenset(range(4096)))
    if actual <= ctx.irq_cpus:
        return ("pass", cpus(ctx.irq_cpus), cpus(actual), "New IRQs start on IRQ CPUs.")
    return (
        "fail",
        cpus(ctx.irq_cpus),
        cpus(actual),
        "Write the IRQ CPUs to /proc/irq/default_smp_affinity (tuning role, tag tuning_irq).",
    )


@control(
    "TUN-014",
    "irqbalance as profiled (stopped, or banned from isolated CPUs)",
    guards="irqbalance moving IRQs onto trading cores",
    risk="disruptive",
    role_tag="tuning_irq",
)
def irqbalance(ctx: Context) -> Outcome:
    running = ctx.snap.running("irqbalance")
    mode = ctx.profile.tuning_irqbalance
    if mode == "disabled":
        unit = ctx.snap.units.get("irqbalance.service", {})
        if not running and unit.get("UnitFileState") == "enabled":
            return (
                "fail",
                "not running, not enabled",
                "stopped but enabled",
                "irqbalance comes back at the next boot; mask it (tuning role, tag tuning_irq).",
            )
        if not running:
            return ("pass", "not running", "not running", "irqbalance is off.")
        pids = ", ".join(str(d["pid"]) for d in running)
        return (
            "fail",
            "not running",
            f"running (PID {pids})",
            "Stop and mask irqbalance (tuning role, tag tuning_irq).",
        )
    expected = f"running with IRQBALANCE_BANNED_CPULIST covering {cpus(ctx.isolated)}"
    if not running:
        return ("fail", expected, "not running", "Start irqbalance (tuning role, tag tuning_irq).")
    env = running[0].get("environ")
    if env is None:
        return (
            "fail",
            expected,
            "environment unreadable",
            "Run the audit as root to read irqbalance's settings.",
        )
    banned: frozenset[int] = frozenset()
    for entry in env:
        key, _, value = entry.partition("=")
        if key == "IRQBALANCE_BANNED_CPULIST":
            banned = cpulist.parse(value)
    if ctx.isolated <= banned:
        return ("pass", expected, f"banned {cpus(banned)}", "irqbalance keeps off isolated CPUs.")
    return (
        "fail",
        expected,
        f"banned {cpus(banned)}" if banned else "no IRQBALANCE_BANNED_CPULIST",
        "Set IRQBALANCE_BANNED_CPULIST (the Debian 12 name) and restart irqbalance outside "
        "market hours (tuning role, tag tuning_irq).",
    )


@control(
    "TUN-015",
    "Trading NIC interrupt coalescing off (rx-usecs 0, adaptive-rx and adaptive-tx off)",
    guards="receive latency added by interrupt moderation",
    risk="disruptive",
    role_tag="tuning_nic",
)
def coalescing(ctx: Context) -> Outcome | Result:
    name = ctx.plan.nic.name
    if not name:
        return not_applicable("the plan names no trading NIC yet")
    wanted = tuning.nic_coalescing(ctx.plan, ctx.profile)
    if not wanted:
        return not_applicable("tuning_nic_coalescing_off is false: coalescing is left as it is")
    expected = ", ".join(f"{key} {value}" for key, value in wanted.items())
    nic = ctx.snap.topology.nics.get(name)
    driver = (nic.driver if nic else None) or ctx.plan.nic.driver or "?"
    result = ctx.snap.ethtool(name, "c")
    if result is None:
        return (
            "fail",
            expected,
            "not collected",
            f"NIC {name} is not on the host; check tuning_nic.",
        )
    if result["rc"] is None:
        return ("fail", expected, result["err"], "Install ethtool on the host.")
    if result["rc"] != 0:
        if "not supported" in (result["err"] + result["out"]).lower():
            return not_applicable(f"driver {driver} does not support interrupt coalescing")
        return ("fail", expected, result["err"].strip(), "Check ethtool -c on the host.")
    values = parsers.parse_ethtool_coalesce(result["out"])
    shown = {key: _as_ethtool(values[key]) for key in wanted if values.get(key) is not None}
    if not shown:
        return not_applicable(f"driver {driver} supports none of {', '.join(wanted)}")
    actual = ", ".join(f"{key} {value}" for key, value in shown.items())
    unsupported = tuple(
        f"driver {driver} does not support {key}" for key in wanted if key not in shown
    )
    wrong = [f"{key} {value}" for key, value in shown.items() if value != wanted[key]]
    if wrong:
        message = (
            f"Turn coalescing off on {name} outside market hours (tuning role, tag tuning_nic)."
        )
        return Result("TUN-015", "fail", expected, ", ".join(wrong), message, unsupported)
    return Result("TUN-015", "pass", expected, actual, "Coalescing is off.", unsupported)


def _as_ethtool(value: int | bool | str | None) -> str:
    """A value of parse_ethtool_coalesce as ethtool prints it (on/off, numbers)."""
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


def _sysctls(ctx: Context, control_id: str, lacking: str) -> Outcome:
    """Judge the sysctls colotune keeps (tuning.sysctls) that `control_id` stands for."""
    wanted = {n: s for n, s in tuning.sysctls(ctx.profile).items() if s.control == control_id}
    current = {name: ctx.snap.sysctl(name) for name in wanted}
    present = {name: value for name, value in current.items() if value is not None}
    if not present:
        return not_applicable(f"this kernel has none of {', '.join(wanted)} ({lacking})")
    expected = ", ".join(
        f"{name}{'>=' if wanted[name].at_least else '='}{wanted[name].value}" for name in present
    )
    wrong = [f"{n}={v}" for n, v in present.items() if not wanted[n].satisfied_by(v)]
    if not wrong:
        shown = ", ".join(f"{n}={v}" for n, v in present.items())
        said = ", ".join(f"{n} is {v}" for n, v in present.items())
        return ("pass", expected, shown, f"{said}.")
    fix = " ".join(f"{n}={wanted[n].value}" for n in present if f"{n}={present[n]}" in wrong)
    return ("fail", expected, ", ".join(wrong), f"Set {fix} (tuning role, tag tuning_sysctl).")


@control(
    "TUN-016",
    "Automatic NUMA balancing off (kernel.numa_balancing=0)",
    guards="page migration scans and hinting faults",
    risk="live",
    role_tag="tuning_sysctl",
)
def numa_balancing(ctx: Context) -> Outcome:
    return _sysctls(ctx, "TUN-016", "built without NUMA balancing")


@control(
    "TUN-017",
    "Transparent hugepages never",
    guards="khugepaged compaction and THP fault stalls",
    risk="live",
    role_tag="tuning_memory",
)
def thp(ctx: Context) -> Outcome:
    value = ctx.snap.selected("sys/kernel/mm/transparent_hugepage/enabled")
    if value is None:
        return not_applicable("kernel built without transparent hugepages")
    if value == "never":
        return ("pass", "never", value, "THP is off.")
    return (
        "fail",
        "never",
        value,
        "Set transparent_hugepage to never (tuning role, tag tuning_memory).",
    )


@control(
    "TUN-018",
    "Kernel samepage merging off",
    guards="ksmd scanning and copy-on-write faults",
    risk="live",
    role_tag="tuning_memory",
)
def ksm(ctx: Context) -> Outcome:
    value = ctx.snap.value("sys/kernel/mm/ksm/run")
    if value is None:
        return not_applicable("kernel built without KSM")
    if value == "0":
        return ("pass", "0", value, "KSM is off.")
    return (
        "fail",
        "0",
        value,
        "Write 0 to /sys/kernel/mm/ksm/run (tuning role, tag tuning_memory).",
    )


@control(
    "TUN-019",
    "No swap in use (and vm.swappiness=0)",
    guards="major faults paging the engine back in",
    risk="live",
    role_tag="tuning_memory",
)
def swap(ctx: Context) -> Outcome:
    if ctx.snap.file("proc/swaps") is None:
        return (
            "fail",
            "no swap",
            "unreadable",
            "Run the audit as a user who can read /proc/swaps.",
        )
    areas = ctx.snap.swaps
    if areas:
        names = ", ".join(a["name"] for a in areas)
        return (
            "fail",
            "no swap",
            names,
            "Turn swap off and remove it from fstab (tuning role, tag tuning_memory).",
        )
    status, expected, actual, message = _sysctls(ctx, "TUN-019", "")
    if status == "fail":
        return ("fail", f"no swap, {expected}", f"no swap, {actual}", message)
    if status == "pass":
        return ("pass", f"no swap, {expected}", f"none, {actual}", "Swap is off.")
    return ("pass", "no swap", "none", "Swap is off.")


@control(
    "TUN-020",
    "Lockup watchdogs off (NMI and soft lockup)",
    guards="periodic watchdog NMIs and hrtimers on every CPU",
    risk="live",
    role_tag="tuning_sysctl",
)
def watchdogs(ctx: Context) -> Outcome:
    return _sysctls(ctx, "TUN-020", "built without lockup detectors")


@control(
    "TUN-021",
    "Timer migration off (kernel.timer_migration=0)",
    guards="timers pulled onto trading cores",
    risk="live",
    role_tag="tuning_sysctl",
    severity="warning",
)
def timer_migration(ctx: Context) -> Outcome:
    return _sysctls(ctx, "TUN-021", "built without timer migration")


@control(
    "TUN-022",
    "VM statistics interval relaxed (vm.stat_interval >= 10)",
    guards="vmstat_update work on every CPU each second",
    risk="live",
    role_tag="tuning_sysctl",
    severity="warning",
)
def stat_interval(ctx: Context) -> Outcome:
    return _sysctls(ctx, "TUN-022", "built without vm.stat_interval")


@control(
    "TUN-028",
    "RT throttling off (kernel.sched_rt_runtime_us=-1)",
    guards="a busy-polling SCHED_FIFO engine thread stopped for 50 ms of every second",
    risk="live",
    role_tag="tuning_sysctl",
)
def rt_throttling(ctx: Context) -> Outcome:
    return _sysctls(ctx, "TUN-028", "built without RT scheduling")


@control(
    "TUN-029",
    "Busy-poll sysctls as the profile asks (net.core.busy_poll, busy_read)",
    guards="socket reads that sleep for an interrupt instead of polling the NIC queue",
    risk="live",
    role_tag="tuning_sysctl",
)
def busy_poll(ctx: Context) -> Outcome:
    if not ctx.profile.tuning_busy_poll_us:
        return not_applicable("tuning_busy_poll_us is 0: the kernel's default is left")
    return _sysctls(ctx, "TUN-029", "built without busy polling")


@control(
    "TUN-023",
    "Unbound workqueues on housekeeping CPUs",
    guards="kworker items running on trading cores",
    risk="live",
    role_tag="tuning_sysctl",
)
def workqueue_mask(ctx: Context) -> Outcome:
    text = ctx.snap.value("sys/devices/virtual/workqueue/cpumask")
    if text is None:
        return not_applicable("this kernel has no workqueue cpumask")
    actual = parsers.parse_mask(text) & (ctx.snap.online_cpus or frozenset(range(4096)))
    if not actual & ctx.isolated:
        return (
            "pass",
            f"within {cpus(ctx.housekeeping)}",
            cpus(actual),
            "Workqueues stay on housekeeping.",
        )
    return (
        "fail",
        f"within {cpus(ctx.housekeeping)}",
        cpus(actual),
        "Write the housekeeping mask to /sys/devices/virtual/workqueue/cpumask (tuning role, "
        "tag tuning_sysctl).",
    )


@control(
    "TUN-024",
    "No unexpected task allowed on an isolated CPU",
    guards="stray processes and unbound kernel threads preempting the engine",
    risk="live",
    role_tag="tuning_affinity",
)
def stray_tasks(ctx: Context) -> Result:
    tasks = ctx.snap.tasks
    watched = cpulist.parse(tasks.get("watched", ""))
    engine = {name: cpu for name, cpu in ctx.plan.threads.items()}
    expected = "only engine threads " + (
        ", ".join(f"{n}->{c}" for n, c in engine.items()) or "(none planned)"
    )
    if not ctx.isolated <= watched:
        # The kernel's isolation is not the plan's, so tasks were not listed one by one:
        # judge from the count of tasks per allowed-CPU set.
        spread = {
            text: count
            for text, count in (tasks.get("groups") or {}).items()
            if len(cpulist.parse(text)) > 1 and cpulist.parse(text) & ctx.isolated
        }
        if not spread:
            return Result(
                "TUN-024", "pass", expected, "none unexpected", "No task may run on isolated CPUs."
            )
        shown = ", ".join(f"{n} task(s) on {t}" for t, n in sorted(spread.items())[:4])
        return Result(
            "TUN-024",
            "fail",
            expected,
            shown,
            "Every task may run on the isolated CPUs because isolation is not in effect "
            "(see TUN-002); boot with the plan's arguments.",
        )
    stray: list[str] = []
    fixed: list[str] = []
    for task in tasks.get("list", []):
        allowed = cpulist.parse(task["cpus"])
        on = allowed & ctx.isolated
        if not on:
            continue
        if task["kthread"] and len(allowed) == 1:
            continue  # per-CPU kernel threads (ksoftirqd/N, kworker/N, migration/N) belong there
        name = task["comm"]
        if name in engine and allowed == {engine[name]}:
            continue
        entry = f"{name} (PID {task['pid']}, TID {task['tid']}) on {cpus(allowed)}"
        # Kernel threads the kernel lets nobody move (workqueue rescuers, which wake only
        # under memory pressure): reported, not failed, like kernel-managed IRQs.
        (fixed if task["kthread"] and task.get("fixed") else stray).append(entry)
    notes = (
        (
            f"{len(fixed)} kernel thread(s) whose CPUs the kernel lets nobody change, "
            f"reported not failed: " + "; ".join(fixed[:5]) + (" ..." if len(fixed) > 5 else ""),
        )
        if fixed
        else ()
    )
    if not stray:
        return Result(
            "TUN-024",
            "pass",
            expected,
            "none unexpected",
            "Isolated CPUs are reserved for the engine.",
            notes,
        )
    more = f" (+{len(stray) - 5} more)" if len(stray) > 5 else ""
    return Result(
        "TUN-024",
        "fail",
        expected,
        "; ".join(stray[:5]) + more,
        "Restart or re-pin these tasks onto housekeeping CPUs; pin monitoring agents with "
        "systemd CPUAffinity (tuning role, tag tuning_affinity).",
        notes,
    )


@control(
    "TUN-025",
    "Interrupt rate on isolated CPUs over the measured window",
    guards="the tick and IPIs still hitting trading cores",
    risk="reboot",
    role_tag="tuning_cmdline",
)
def irq_rate(ctx: Context) -> Outcome:
    window = ctx.snap.raw.get("interrupt_window")
    if not window:
        return not_applicable("no interrupt window was measured (audit --irq-window SECONDS)")
    before = parsers.parse_interrupts(window["before"] or "")
    after = parsers.parse_interrupts(window["after"] or "")
    seconds = float(window["seconds"]) or 1.0
    rates: dict[int, float] = {}
    for index, cpu in enumerate(after["cpus"]):
        if cpu not in ctx.isolated:
            continue
        total = 0
        for name, row in after["irqs"].items():
            old = before["irqs"].get(name, {"counts": []})["counts"]
            if index < len(row["counts"]) and index < len(old):
                total += row["counts"][index] - old[index]
        rates[cpu] = total / seconds
    worst = max(rates.values(), default=0.0)
    actual = ", ".join(f"CPU {c}: {r:.0f}/s" for c, r in sorted(rates.items()))
    expected = f"<= {MAX_IRQ_RATE:.0f}/s per isolated CPU"
    if worst <= MAX_IRQ_RATE:
        return ("pass", expected, actual or "no isolated CPU", "Isolated CPUs are quiet.")
    return (
        "fail",
        expected,
        actual,
        "Find the source in /proc/interrupts (LOC: the tick, check nohz_full; a device: "
        "move its IRQ) and fix it before the open.",
    )


@control(
    "TUN-026",
    "The audit itself ran on housekeeping CPUs only",
    guards="the audit's own collector disturbing trading cores",
    risk="live",
    role_tag="tuning_affinity",
)
def collector_pinned(ctx: Context) -> Outcome:
    info = ctx.snap.collector
    affinity = cpulist.parse(str(info.get("affinity", "")))
    expected = f"within {cpus(ctx.housekeeping)}"
    if info.get("pinned") and affinity and not affinity & ctx.isolated:
        return ("pass", expected, cpus(affinity), "The collector stayed off the isolated CPUs.")
    return (
        "fail",
        expected,
        cpus(affinity) + (f" ({info['error']})" if info.get("error") else ""),
        "The kernel's isolated/nohz_full sets are not in effect, so the collector could not "
        "tell housekeeping CPUs apart; fix TUN-002/TUN-003 first.",
    )
