"""Kernel cpulist strings ("0-3,8,10-11"): the one parser and formatter every part uses.

Standard library only: the on-host collector imports this module too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_RANGE = re.compile(r"^(\d+)(?:-(\d+))?$")


class CpuListError(ValueError):
    """A string that is not a kernel cpulist; the message says what would be valid."""


def parse(text: str) -> frozenset[int]:
    """Parse a kernel cpulist such as "0-3,8,10-11" (an empty string is the empty set).

    Accepts what the kernel prints (also with a trailing newline) and the ranges
    people write; rejects anything else with a message that shows the bad part.
    """
    text = text.strip()
    if not text:
        return frozenset()
    cpus: set[int] = set()
    for part in text.split(","):
        part = part.strip()
        match = _RANGE.match(part)
        if not match:
            raise CpuListError(
                f"{text!r} is not a cpulist: {part!r} is neither a CPU number nor a range "
                "like 2-5 (valid: comma-separated numbers and ranges, e.g. '0-3,8,10-11')"
            )
        low = int(match.group(1))
        high = int(match.group(2)) if match.group(2) is not None else low
        if high < low:
            raise CpuListError(
                f"{text!r} is not a cpulist: range {part!r} runs backwards " f"(write {high}-{low})"
            )
        cpus.update(range(low, high + 1))
    return frozenset(cpus)


def render(cpus: Iterable[int]) -> str:
    """Format CPUs as the kernel prints a cpulist: sorted, ranges collapsed."""
    ordered = sorted(set(cpus))
    parts: list[str] = []
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        parts.append(str(ordered[i]) if i == j else f"{ordered[i]}-{ordered[j]}")
        i = j + 1
    return ",".join(parts)


def parse_mask(text: str) -> frozenset[int]:
    """Parse a kernel hex CPU mask such as "ff,ffffffff" (/proc/irq/*/smp_affinity)."""
    digits = text.strip().replace(",", "")
    if not digits or not re.fullmatch(r"[0-9a-fA-F]+", digits):
        raise CpuListError(f"{text!r} is not a hex CPU mask (valid: e.g. 'ff' or '1,00000003')")
    value = int(digits, 16)
    return frozenset(bit for bit in range(value.bit_length()) if value >> bit & 1)


def render_mask(cpus: Iterable[int]) -> str:
    """Format CPUs as a kernel hex mask in 32-bit groups ("1,00000003")."""
    value = 0
    for cpu in cpus:
        value |= 1 << cpu
    text = f"{value:x}"
    groups: list[str] = []
    while len(text) > 8:
        groups.insert(0, text[-8:])
        text = text[:-8]
    groups.insert(0, text)
    return ",".join(groups)
