"""An engine's threads as /proc shows them, and pinning each where the plan says.

A process given several isolated CPUs runs every thread on the lowest of them
(no load balancing across isolated CPUs), so the launcher never trusts the
engine to place itself: after the start it lists /proc/PID/task/*/comm, moves
each planned thread to its own CPU and every other thread to the housekeeping
CPUs, and reads the result back from the kernel.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path

from colotune.host import cpulist, parsers


@dataclass(frozen=True)
class Task:
    tid: int
    name: str


def tasks(pid: int, proc: Path = Path("/proc")) -> list[Task]:
    """The threads of a process (empty once it is gone)."""
    found: list[Task] = []
    try:
        entries = os.listdir(proc / str(pid) / "task")
    except OSError:
        return []
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            name = (proc / str(pid) / "task" / entry / "comm").read_text().rstrip("\n")
        except OSError:
            continue  # the thread ended between listdir and read
        found.append(Task(int(entry), name))
    return sorted(found, key=lambda t: t.tid)


def allowed_cpus(pid: int, tid: int, proc: Path = Path("/proc")) -> frozenset[int] | None:
    """Cpus_allowed_list of a thread, from /proc (None once it is gone)."""
    try:
        status = (proc / str(pid) / "task" / str(tid) / "status").read_text()
    except OSError:
        return None
    allowed = parsers.parse_status(status).get("Cpus_allowed_list")
    return cpulist.parse(allowed) if allowed is not None else None


def last_cpu(pid: int, tid: int, proc: Path = Path("/proc")) -> int | None:
    """The CPU a thread last ran on (field 39 of /proc/PID/task/TID/stat)."""
    try:
        stat = (proc / str(pid) / "task" / str(tid) / "stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2 :].split()
    return int(fields[36]) if len(fields) > 36 else None


def missing(names: list[str] | tuple[str, ...], seen: list[Task]) -> list[str]:
    present = {t.name for t in seen}
    return [n for n in names if n not in present]


@dataclass
class Placement:
    """What the launcher did to one thread, for the log and the run summary."""

    tid: int
    name: str
    planned_cpu: int | None  # None: not a planned thread (goes to housekeeping)
    before: str
    after: str
    policy: str = "SCHED_OTHER"
    fixed: bool = False
    error: str | None = None
    last_cpu: int | None = None  # where the kernel last ran it, at the latest look
    renamed_from: tuple[str, ...] = ()  # names the thread carried before (a late-named thread)

    def to_dict(self) -> dict[str, object]:
        return {**asdict(self), "renamed_from": list(self.renamed_from)}


def refresh_last_cpu(pid: int, seen: dict[int, Placement], proc: Path = Path("/proc")) -> None:
    """Note where each known thread last ran (threads that ended keep their last value)."""
    for record in seen.values():
        ran_on = last_cpu(pid, record.tid, proc)
        if ran_on is not None:
            record.last_cpu = ran_on


def wanted(task: Task, planned: dict[str, int], housekeeping: frozenset[int]) -> frozenset[int]:
    cpu = planned.get(task.name)
    return frozenset({cpu}) if cpu is not None else housekeeping


def place(
    pid: int,
    planned: dict[str, int],
    housekeeping: frozenset[int],
    *,
    sched_priority: int | None = None,
    proc: Path = Path("/proc"),
    seen: dict[int, Placement] | None = None,
) -> list[Placement]:
    """Pin every thread of `pid`; returns what changed (or failed) in this pass.

    Planned threads go to their own CPU (and SCHED_FIFO when a priority is given);
    every other thread to the housekeeping CPUs. Threads already placed (in `seen`)
    are re-checked and only reported again when they had drifted or were renamed;
    each pass refreshes where every thread last ran.
    """
    seen = {} if seen is None else seen
    done: list[Placement] = []
    for task in tasks(pid, proc):
        want = wanted(task, planned, housekeeping)
        before = allowed_cpus(pid, task.tid, proc)
        if before is None:
            continue
        known = seen.get(task.tid)
        if known is not None and before == want and known.name == task.name:
            ran_on = last_cpu(pid, task.tid, proc)
            if ran_on is not None:
                known.last_cpu = ran_on
            continue
        earlier: tuple[str, ...] = ()
        if known is not None:
            earlier = known.renamed_from
            if known.name != task.name:
                earlier = (*earlier, known.name)
        record = Placement(
            tid=task.tid,
            name=task.name,
            planned_cpu=planned.get(task.name),
            before=cpulist.render(before),
            after=cpulist.render(before),
            renamed_from=earlier,
        )
        try:
            if before != want:
                os.sched_setaffinity(task.tid, want)
                record.fixed = True
            if (
                task.name in planned
                and sched_priority is not None
                and os.sched_getscheduler(task.tid) != os.SCHED_FIFO
            ):
                os.sched_setscheduler(task.tid, os.SCHED_FIFO, os.sched_param(sched_priority))
        except ProcessLookupError:
            continue  # the thread ended meanwhile
        except OSError as exc:
            record.error = f"{type(exc).__name__}: {exc.strerror or exc}"
        after = allowed_cpus(pid, task.tid, proc)
        if after is None:
            continue
        record.after = cpulist.render(after)
        if after != want and record.error is None:
            record.error = f"the kernel kept CPUs {record.after}, wanted {cpulist.render(want)}"
        try:
            policy = os.sched_getscheduler(task.tid)
            prio = os.sched_getparam(task.tid).sched_priority
        except OSError:
            policy, prio = -1, 0
        record.policy = {os.SCHED_FIFO: f"SCHED_FIFO:{prio}", os.SCHED_RR: f"SCHED_RR:{prio}"}.get(
            policy, "SCHED_OTHER"
        )
        record.last_cpu = last_cpu(pid, task.tid, proc)
        seen[task.tid] = record
        done.append(record)
    return done
