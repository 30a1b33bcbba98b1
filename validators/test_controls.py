"""Validators: one test per control of the registry (colotune.checks), made from it."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from colotune import checks
from colotune.checks import Control


def param(control: Control) -> object:
    """The control as one test: its ID and title name the test; its needs mark it."""
    marks = [pytest.mark.control(control.id)]
    if control.needs is not None:
        kind, reason = control.needs
        marks.append(getattr(pytest.mark, kind)(reason=reason))
    return pytest.param(control.id, marks=marks, id=f"{control.id} {control.title}")


@pytest.mark.parametrize("control_id", [param(c) for c in checks.all_controls()])
def test_control(control_id: str, verify: Callable[[], None]) -> None:
    verify()
