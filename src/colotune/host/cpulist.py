"""Kernel cpulist strings ("0-3,8,10-11"): the one parser and formatter every part uses.

Standard library only: the on-host collector imports this module too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# ASCII digits only: \d and int() also take fullwidth and Arabic-Indic digits.
_RANGE = re.compile(r"^([0-9]+)(?:-([0-9]+))?$")

# The kernel's NR_CPUS ceiling (CONFIG_NR_CPUS is at most 8192 on x86-64): a CPU
# number from 0 to MAX_CPUS - 1. A cpulist is checked against it before a range is
# expanded, so "0-4000000000" is an error, not a set of four billion numbers.
MAX_CPUS = 8192
# The longest cpulist text read: every other CPU of MAX_CPUS fits in far less.
MAX_TEXT = 65536


def _shown(text: str) -> str:
    """The text for a message, cut to a readable length."""
    return repr(text) if len(text) <= 60 else repr(text[:60]) + f"... ({len(text)} characters)"


class CpuListError(ValueError):
    """A string that is not a kernel cpulist; the message says what would be valid."""


def _cpu(digits: str, text: str) -> int:
    """One CPU number of a cpulist, refused above the kernel's limit before a range is built."""
    digits = digits.lstrip("0") or "0"
    if len(digits) > len(str(MAX_CPUS)) or int(digits) >= MAX_CPUS:
        raise CpuListError(
            f"{_shown(text)} is not a cpulist: CPU {_shown(digits)} is above the kernel's limit "
            f"of {MAX_CPUS} CPUs (valid: CPU numbers 0-{MAX_CPUS - 1})"
        )
    return int(digits)


def parse(text: str) -> frozenset[int]:
    """Parse a kernel cpulist such as "0-3,8,10-11" (an empty string is the empty set).

    Accepts what the kernel prints (also with a trailing newline) and the ranges
    people write; rejects anything else with a message that shows the bad part.
    """
    text = text.strip()
    if not text:
        return frozenset()
    if len(text) > MAX_TEXT:
        raise CpuListError(
            f"{_shown(text)} is not a cpulist: longer than {MAX_TEXT} characters "
            f"(valid: CPU numbers 0-{MAX_CPUS - 1}, e.g. '0-3,8,10-11')"
        )
    cpus: set[int] = set()
    for part in text.split(","):
        part = part.strip()
        match = _RANGE.match(part)
        if not match:
            raise CpuListError(
                f"{_shown(text)} is not a cpulist: {_shown(part)} is neither a CPU number nor "
                "a range like 2-5 (valid: comma-separated numbers and ranges, e.g. '0-3,8,10-11')"
            )
        low = _cpu(match.group(1), text)
        high = _cpu(match.group(2), text) if match.group(2) is not None else low
        if high < low:
            raise CpuListError(
                f"{_shown(text)} is not a cpulist: range {_shown(part)} runs backwards "
                f"(write {high}-{low})"
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
        raise CpuListError(
            f"{_shown(text)} is not a hex CPU mask (valid: e.g. 'ff' or '1,00000003')"
        )
    if len(digits) * 4 > MAX_CPUS:
        raise CpuListError(
            f"{_shown(text)} is not a hex CPU mask: wider than {MAX_CPUS} CPUs "
            f"({MAX_CPUS // 4} hex digits)"
        )
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
