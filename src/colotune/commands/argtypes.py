"""argparse types shared by the subcommands: a bad option value is refused by argparse
itself (exit 2, the option named, the valid range said), before anything runs."""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Callable

# A day: longer than any audit, window or probe; "inf" and nan are not durations.
MAX_SECONDS = 86400.0

_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]+)?|\.[0-9]+")  # ASCII digits only, no exponent


def positive_number(text: str, *, high: float, unit: str, scale: float = 1.0) -> float:
    """A finite number above 0 and at most `high` (`scale` converts the text's unit)."""
    number = text.strip()
    value = float(number) * scale if _NUMBER.fullmatch(number) else math.nan
    if not (math.isfinite(value) and 0 < value <= high):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a number of {unit} (valid: above 0 and at most {high:.0f}, "
            "e.g. 20 or 0.5)"
        )
    return value


def positive_seconds(text: str, *, scale: float = 1.0) -> float:
    """Seconds above 0 and at most MAX_SECONDS (`scale` converts from ms or minutes)."""
    return positive_number(text, high=MAX_SECONDS, unit="seconds", scale=scale)


def nanoseconds(text: str) -> float:
    """An offset limit in nanoseconds, above 0 and at most one second."""
    return positive_number(text, high=1e9, unit="nanoseconds")


def whole_number(low: int, high: int) -> Callable[[str], int]:
    """The type of an option that takes a whole number from `low` to `high`, ASCII digits."""

    def parse(text: str) -> int:
        if not re.fullmatch(r"[0-9]{1,9}", text.strip()) or not low <= int(text) <= high:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not a whole number from {low} to {high} (valid: e.g. {high // 2})"
            )
        return int(text)

    return parse


positive_int = whole_number(1, 1024)
