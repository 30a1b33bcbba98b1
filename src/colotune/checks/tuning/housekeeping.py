"""What stays on housekeeping CPUs: unbound workqueues, tasks, the audit's own collector."""

from __future__ import annotations

from colotune.checks.base import Context, Result, cpus, not_applicable
from colotune.checks.tuning.common import Outcome, online_mask
from colotune.host import cpulist


def workqueue_mask(ctx: Context) -> Outcome:
    text = ctx.snap.value("sys/devices/virtual/workqueue/cpumask")
    if text is None:
        return not_applicable("this kernel has no workqueue cpumask")
    actual = online_mask(ctx, text)
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
