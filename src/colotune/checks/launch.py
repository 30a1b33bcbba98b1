"""Controls of what the engine needs to start: its NIC and free 1 GiB pages (LCH-0xx).

The launcher's preflight runs them before it starts the engine (colotune.launcher.preflight);
the audit and the validators judge them like every other control. LCH-003 (OpenOnload's
command and module) is not here: the launcher looks the `onload` command up on its own PATH,
which a snapshot cannot carry.
"""

from __future__ import annotations

from typing import Any

from colotune.checks.base import Context, Control, Status, not_applicable, register

Outcome = tuple[Status, str, str, str]
PAGE_1G = "hugepages-1048576kB"


def nic_present(ctx: Context) -> Outcome:
    if not ctx.plan.nic.name:
        return not_applicable("plan names no NIC")
    nic, names = ctx.plan.nic.name, _interfaces(ctx)
    if nic in names:
        return ("pass", nic, nic, "The trading NIC is present.")
    return (
        "fail",
        nic,
        ", ".join(names) or "no interfaces",
        f"The plan's NIC {nic} is not on this host; check the cabling/driver or replan.",
    )


def _interfaces(ctx: Context) -> list[str]:
    """The network interfaces of the snapshot's topology (sys/class/net/NAME), sorted."""
    topo: dict[str, Any] = ctx.snap.raw.get("topology") or {}
    paths = [*(topo.get("links") or {}), *(topo.get("dirs") or {})]
    return sorted({path.rsplit("/", 1)[1] for path in paths if path.startswith("sys/class/net/")})


def hugepages_free(ctx: Context) -> Outcome:
    need = _pages_needed(ctx)
    if need == 0:
        return not_applicable("the engine needs no 1 GiB page")
    running = sorted(
        {
            task["comm"]
            for task in ctx.snap.tasks.get("list", [])
            if task["comm"] in ctx.plan.threads
        }
    )
    if running:
        # a running engine holds its pages: they are not free, and not missing either
        return not_applicable(
            f"the engine is running ({', '.join(running)}); its pages are in use, judged "
            "before it starts"
        )
    files = ctx.snap.raw.get("files")
    rel = f"sys/devices/system/node/node{ctx.plan.numa_node}/hugepages/{PAGE_1G}/free_hugepages"
    text = files.get(rel) if isinstance(files, dict) else None
    free = int(text) if isinstance(text, str) and text.strip().isdigit() else 0
    expected = f"at least {need} free on node {ctx.plan.numa_node}"
    if free >= need:
        return ("pass", expected, str(free), "1 GiB pages are free for the engine.")
    return (
        "fail",
        expected,
        f"{free} free" if text is not None else "no 1 GiB pool on that node",
        "Another process holds the engine's 1 GiB pages, or none were reserved; find it "
        "(grep HugePages /proc/*/status) or rerun roles/tuning.",
    )


def _pages_needed(ctx: Context) -> int:
    """trader_hugepages_free; unset: 1 when the plan reserves 1 GiB pages on its node."""
    if ctx.profile.trader_hugepages_free is not None:
        return ctx.profile.trader_hugepages_free
    planned = (ctx.plan.hugepages.get(str(ctx.plan.numa_node)) or {}).get("1G", 0)
    return 1 if planned > 0 else 0


# Each row: ID, title, what it guards against, risk of the fix, role tag, check.
CONTROLS = (
    Control(
        "LCH-001",
        "The plan's NIC is present",
        "an engine started without its trading NIC (cabling, driver, or a stale plan)",
        "disruptive",
        "trader",
        nic_present,
    ),
    Control(
        "LCH-002",
        "Enough 1 GiB pages free on the plan's node for the engine",
        "an engine that starts without the 1 GiB pages the plan reserved for it",
        "disruptive",
        "tuning_hugepages",
        hugepages_free,
    ),
)

register(CONTROLS)
