"""The one error type users see: what was wrong, where, and what would be valid."""

from __future__ import annotations

import reprlib

_REPR = reprlib.Repr()
_REPR.maxlevel = 3
_REPR.maxstring = 80
_REPR.maxother = 80
_REPR.maxlist = _REPR.maxdict = _REPR.maxtuple = _REPR.maxset = 6


def shown(value: object) -> str:
    """A value for a message: its repr, cut short (a huge or deeply nested value stays short)."""
    return _REPR.repr(value)


class ColotuneError(Exception):
    """Bad input or an impossible request. The CLI prints it and exits 2, no traceback.

    Messages name the host, the variable, the bad value and what would be valid,
    so that an operator can fix the inventory without reading code.
    """


class InputError(ColotuneError):
    """An error in one variable of one host's profile."""

    def __init__(self, *, host: str | None, variable: str, value: object, problem: str) -> None:
        self.host = host
        self.variable = variable
        self.value = value
        self.problem = problem
        where = f"host {host}: " if host else ""
        super().__init__(f"{where}{variable}={shown(value)}: {problem}")
