"""Interrupts: IRQ affinity, irqbalance, and the interrupt rate on isolated CPUs."""

from __future__ import annotations

import re

from colotune.checks.base import Context, Result, cpus, not_applicable
from colotune.checks.tuning.common import Outcome, online_mask
from colotune.host import cpulist, parsers, topology

# Interrupts per second an isolated CPU may take in the measured window (an untuned CPU
# takes about 1000/s from the tick alone).
MAX_IRQ_RATE = 100.0

# IRQs the kernel manages itself (spread over CPUs, refusing affinity changes): reported only.
MANAGED_IRQ = re.compile(r"nvme\d+q\d+|virtio\d+-(req|input|output|request)\.\d+|megasas|mpt3sas")


def _managed(name: str) -> bool:
    return bool(MANAGED_IRQ.search(name))


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
    numbers = topology.nic_irqs(name, nic.irqs, ctx.snap.file("proc/interrupts") or "")
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


def default_affinity(ctx: Context) -> Outcome:
    text = ctx.snap.value("proc/irq/default_smp_affinity")
    if text is None:
        return (
            "fail",
            cpus(ctx.irq_cpus),
            "unreadable",
            "Run the audit as a user who can read /proc/irq.",
        )
    actual = online_mask(ctx, text)
    if actual <= ctx.irq_cpus:
        return ("pass", cpus(ctx.irq_cpus), cpus(actual), "New IRQs start on IRQ CPUs.")
    return (
        "fail",
        cpus(ctx.irq_cpus),
        cpus(actual),
        "Write the IRQ CPUs to /proc/irq/default_smp_affinity (tuning role, tag tuning_irq).",
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
