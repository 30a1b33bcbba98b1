"""What the tuning controls share: their outcome, the CPU folder of sysfs, the reboot advice."""

from __future__ import annotations

from colotune.checks.base import Context, Status
from colotune.host import cpulist

Outcome = tuple[Status, str, str, str]
CPU = "sys/devices/system/cpu"
REBOOT_FIX = "run the tuning role outside market hours, then reboot through playbooks/reboot.yml"


def online_mask(ctx: Context, text: str) -> frozenset[int]:
    """The CPUs of a hex CPU mask (as /proc and sysfs print it) that the host has online."""
    mask = cpulist.parse_mask(text) if text.strip() else frozenset()
    return mask & (ctx.snap.online_cpus or frozenset(range(4096)))
