"""Memory: 1 GiB hugepages per node, transparent hugepages, KSM and swap."""

from __future__ import annotations

from colotune.checks.base import Context, not_applicable
from colotune.checks.tuning import sysctl
from colotune.checks.tuning.common import REBOOT_FIX, Outcome


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


# roles/tuning's 1 GiB hugetlbfs mount (dev-hugepages1G.mount).
HUGEPAGES_1G_MOUNT = "/dev/hugepages1G"


def hugetlbfs_private(ctx: Context) -> Outcome:
    """No hugetlbfs mount writable by every user; the 1 GiB one, when pages are planned, mode
    1770 (the sticky bit optional) and owned by the trader's hugepages group."""
    mounts = ctx.snap.hugetlbfs
    if mounts is None:
        return not_applicable("the snapshot's collector did not read the hugetlbfs mounts")
    group = ctx.profile.tuning_hugepages_group or ctx.profile.trader_user
    planned = any(sizes.get("1G", 0) for sizes in ctx.plan.hugepages.values())
    expected = "no hugetlbfs mount writable by others"
    if planned:
        expected += f"; {HUGEPAGES_1G_MOUNT} mode 1770, group {group}"
    problems: list[str] = []
    shown: list[str] = []
    for target, mount in sorted(mounts.items()):
        if "mode" not in mount:
            problems.append(f"{target} cannot be read ({mount.get('error')})")
            shown.append(f"{target} unreadable")
            continue
        owner = mount.get("group") or f"gid {mount.get('gid')}"
        shown.append(f"{target} mode {mount['mode']} group {owner}")
        mode = int(str(mount["mode"]), 8)
        if mode & 0o002:
            problems.append(f"{target} is writable by every user (mode {mount['mode']})")
        if planned and target == HUGEPAGES_1G_MOUNT:
            if mount.get("group") != group:
                problems.append(f"{target} belongs to group {owner}, not {group}")
            if mode & 0o070 != 0o070:
                problems.append(f"{target} does not let its group create page files")
    if planned and HUGEPAGES_1G_MOUNT not in mounts:
        problems.append(f"{HUGEPAGES_1G_MOUNT} is not mounted")
    actual = ", ".join(shown) or "no hugetlbfs mount"
    if problems:
        fix = "apply roles/tuning (tag tuning_hugepages): mode 1770 and its group, live"
        return ("fail", expected, actual, f"{'; '.join(problems)}; {fix}.")
    if planned:
        return ("pass", expected, actual, "Only the trader's group can use the 1 GiB pages' mount.")
    return ("pass", expected, actual, "No hugetlbfs mount is writable by every user.")


def _kernel_setting(value: str | None, wanted: str, feature: str, passed: str, fix: str) -> Outcome:
    """A memory setting whose file reads `value`: `wanted`, or not applicable on a kernel built
    without `feature` (no file)."""
    if value is None:
        return not_applicable(f"kernel built without {feature}")
    if value == wanted:
        return ("pass", wanted, value, passed)
    return ("fail", wanted, value, f"{fix} (tuning role, tag tuning_memory).")


def thp(ctx: Context) -> Outcome:
    value = ctx.snap.selected("sys/kernel/mm/transparent_hugepage/enabled")
    fix = "Set transparent_hugepage to never"
    return _kernel_setting(value, "never", "transparent hugepages", "THP is off.", fix)


def ksm(ctx: Context) -> Outcome:
    value = ctx.snap.value("sys/kernel/mm/ksm/run")
    fix = "Write 0 to /sys/kernel/mm/ksm/run"
    return _kernel_setting(value, "0", "KSM", "KSM is off.", fix)


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
