"""Kernel command line and the CPU isolation it sets up, as the running kernel shows them."""

from __future__ import annotations

import re

from colotune import tuning
from colotune.checks.base import Context, cpus, not_applicable
from colotune.checks.tuning.common import CPU, REBOOT_FIX, Outcome
from colotune.host import cpulist

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


def isolated_in_effect(ctx: Context) -> Outcome:
    return _same_cpus(ctx, f"{CPU}/isolated", "Isolated CPUs", REBOOT_FIX)


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
