"""What a control is and what it returns; the registry every front end reads."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from colotune.errors import ColotuneError
from colotune.facts.snapshot import Snapshot
from colotune.host import cpulist
from colotune.plan import Plan
from colotune.profile import HostProfile

Status = Literal["pass", "fail", "not_applicable"]
Risk = Literal["live", "disruptive", "reboot"]
Severity = Literal["error", "warning"]
# What judging a control needs beyond a snapshot, and why: a real NIC or PHC (hardware), a
# reboot after the fix (reboot), or a measurement window (slow). The validators mark and skip
# on it (`--skip-marker`).
Need = tuple[Literal["hardware", "reboot", "slow"], str]


@dataclass(frozen=True)
class Result:
    """The verdict of one control on one host: status, expected, actual, and what to do."""

    control: str
    status: Status
    expected: str
    actual: str
    message: str  # one sentence a person can act on (or the reason it does not apply)
    notes: tuple[str, ...] = ()  # things reported, not failed on (managed IRQs, ...)

    @property
    def ok(self) -> bool:
        """Not a failure: passed, or not applicable here."""
        return self.status != "fail"

    def explain(self) -> str:
        text = f"{self.control} {self.status}: {self.message} (expected {self.expected}; "
        text += f"actual {self.actual})"
        for note in self.notes:
            text += f"\n  note: {note}"
        return text

    def to_dict(self) -> dict[str, Any]:
        return {
            "control": self.control,
            "status": self.status,
            "expected": self.expected,
            "actual": self.actual,
            "message": self.message,
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class Context:
    """What a control judges: the plan, the host's profile, and its snapshot."""

    plan: Plan
    snap: Snapshot
    profile: HostProfile

    @property
    def isolated(self) -> frozenset[int]:
        return self.plan.cpus("isolated_cpus")

    @property
    def housekeeping(self) -> frozenset[int]:
        return self.plan.cpus("housekeeping_cpus")

    @property
    def irq_cpus(self) -> frozenset[int]:
        return self.plan.cpus("irq_cpus")


CheckFunction = Callable[[Context], tuple[Status, str, str, str] | Result]


@dataclass(frozen=True)
class Control:
    """A control: a stable ID, what it guards against, how its fix is applied, and the check."""

    id: str
    title: str
    guards: str  # the jitter source (or failure) it guards against
    risk: Risk  # risk class of the fix: live, disruptive, reboot
    role_tag: str  # the Ansible role tag that fixes it
    function: CheckFunction = field(repr=False)
    severity: Severity = "error"  # warning: drift here is a warning (audit exit 1), not a no-go
    needs: Need | None = None  # (hardware, reboot or slow, the reason), for the validators

    def check(
        self, plan: Plan, snapshot: Snapshot | dict[str, Any], profile: HostProfile | None = None
    ) -> Result:
        """Judge one host. Pure: same plan, snapshot and profile, same result."""
        snap = snapshot if isinstance(snapshot, Snapshot) else Snapshot(snapshot)
        prof = profile if profile is not None else default_profile(plan)
        try:
            outcome = self.function(Context(plan, snap, prof))
        except (ColotuneError, cpulist.CpuListError, ValueError, KeyError, TypeError) as exc:
            return Result(
                self.id,
                "fail",
                "a snapshot this control can read",
                f"unreadable facts ({type(exc).__name__}: {exc})",
                "Re-run the audit; if it persists, record the snapshot with `colotune audit "
                "--json` and report it.",
            )
        if isinstance(outcome, Result):
            return outcome
        status, expected, actual, message = outcome
        return Result(self.id, status, expected, actual, message)


def default_profile(plan: Plan, variables: dict[str, Any] | None = None) -> HostProfile:
    """The profile of a host known by its plan: `variables` over every default, with the
    plan's NIC (or its node, for a plan without one). Raises ValueError when invalid."""
    where: dict[str, Any] = (
        {"tuning_nic": plan.nic.name} if plan.nic.name else {"tuning_numa_node": plan.numa_node}
    )
    return HostProfile.model_validate({**where, **(variables or {})})


REGISTRY: dict[str, Control] = {}


def register(controls: Iterable[Control]) -> None:
    """Add a family's table of controls to the registry."""
    for item in controls:
        if item.id in REGISTRY:
            raise ValueError(f"control {item.id} registered twice")
        REGISTRY[item.id] = item


def cpus(value: Iterable[int]) -> str:
    """A CPU set for a message: a cpulist, or "none"."""
    return cpulist.render(value) or "none"


def not_applicable(reason: str) -> tuple[Status, str, str, str]:
    return ("not_applicable", "-", "-", f"not applicable: {reason}")
