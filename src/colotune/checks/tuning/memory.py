"""Memory: 1 GiB hugepages per node, transparent hugepages, KSM and swap."""

from __future__ import annotations

from colotune.checks.base import Context, control, not_applicable
from colotune.checks.tuning import sysctl
from colotune.checks.tuning.common import REBOOT_FIX, Outcome


@control(
    "TUN-006",
    "1 GiB hugepages per NUMA node as planned",
    guards="TLB misses and page faults on the trading path; memory on the far node",
    risk="reboot",
    role_tag="tuning_hugepages",
    needs=("reboot", "per-node 1 GiB pages are reserved at boot"),
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
    status, expected, actual, message = sysctl.judge(ctx, "TUN-019", "")
    if status == "fail":
        return ("fail", f"no swap, {expected}", f"no swap, {actual}", message)
    if status == "pass":
        return ("pass", f"no swap, {expected}", f"none, {actual}", "Swap is off.")
    return ("pass", "no swap", "none", "Swap is off.")
