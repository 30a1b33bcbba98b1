"""colotune-launch: start the engine where the plan says, keep it there, report how it ended.

    colotune-launch [--config /etc/colotune/trader.json] [--plan /etc/colotune/plan.json]
                    [--force] [--preflight-only [--json]] [-- EXTRA ENGINE ARGS]

Exit codes: the engine's own (128+N when signal N ended it); 2 bad input (a
missing or broken config or plan, a plan for another host, a thread CPU that is
not isolated in the plan or not online, a planned thread the engine never
started, a thread that could not be pinned); 3 preflight failed and --force was
not given. `--preflight-only` exits 0 when every control passes, else 3.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Any

from colotune.errors import ColotuneError
from colotune.host import cpulist
from colotune.launcher import preflight, system, threads
from colotune.launcher.config import (
    DEFAULT_CONFIG,
    DEFAULT_PLAN,
    LaunchError,
    PlanView,
    TraderConfig,
    check_host,
    check_threads,
    load,
)

EXIT_BAD_INPUT = 2
EXIT_PREFLIGHT = 3
FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1)
STOP_GRACE_S = 10.0
POLL_S = 0.02  # while waiting for the planned threads to appear
# While the engine runs, the launcher lists its threads (/proc/PID/task/*/comm and stat,
# a few microseconds on a housekeeping CPU) every WATCH_S, places any new or renamed one
# at once and notes where each last ran, so the run summary has every thread that lived
# longer than that; the full re-check of affinity and policy comes every --recheck-s.
WATCH_S = 0.1


def say(message: str) -> None:
    print(f"colotune-launch: {message}", file=sys.stderr, flush=True)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="colotune-launch",
        description="Start the trading engine with every planned thread pinned to its CPU.",
        epilog="Exit codes: the engine's (128+N after signal N); 2 bad input; 3 preflight "
        "failed without --force.",
    )
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="trader config JSON")
    parser.add_argument("--plan", type=Path, default=DEFAULT_PLAN, help="the host's plan JSON")
    parser.add_argument(
        "--force", action="store_true", help="start even when preflight fails (logged)"
    )
    parser.add_argument(
        "--preflight-only", action="store_true", help="run preflight, print it, do not start"
    )
    parser.add_argument("--json", action="store_true", help="with --preflight-only: JSON output")
    parser.add_argument(
        "--root", default="/", help="root the preflight reads (a recorded tree, for tests)"
    )
    parser.add_argument("--stats-dir", type=Path, help="override the config's stats_dir")
    parser.add_argument(
        "--recheck-s",
        type=float,
        default=1.0,
        help="seconds between affinity re-checks while the engine runs (default 1)",
    )
    parser.add_argument("engine_args", nargs="*", help="more engine arguments (after --)")
    args = parser.parse_args(argv)
    if args.recheck_s <= 0:
        parser.error("--recheck-s must be above 0")
    return args


def online_cpus() -> frozenset[int]:
    try:
        return cpulist.parse(Path("/sys/devices/system/cpu/online").read_text())
    except OSError:
        return frozenset(os.sched_getaffinity(0))


def check_cpus(plan: PlanView) -> None:
    online = online_cpus()
    gone = {name: cpu for name, cpu in plan.threads.items() if cpu not in online}
    if gone:
        shown = ", ".join(f"{n}={c}" for n, c in sorted(gone.items()))
        raise LaunchError(
            f"planned thread CPU not online here: {shown} (online: {cpulist.render(online)}); "
            "this plan was made for another machine"
        )
    if not plan.housekeeping & online:
        raise LaunchError(
            f"none of the plan's housekeeping CPUs {cpulist.render(plan.housekeeping)} is online "
            f"(online: {cpulist.render(online)})"
        )


def engine_command(config: TraderConfig, plan: PlanView, extra: list[str]) -> list[str]:
    """The engine's argv: binary, its arguments, then one pin option per thread and stats."""
    command = [config.engine, *config.args, *extra]
    if config.pin_option:
        for name, cpu in sorted(plan.threads.items()):
            command += [config.pin_option, f"{name}={cpu}"]
    return command


def wrappers(config: TraderConfig, plan: PlanView, notes: list[str]) -> tuple[list[str], bool]:
    """numactl and onload in front of the engine, as configured; notes say what applies.

    The flag says whether the launcher must bind the memory itself (no numactl).
    """
    prefix: list[str] = []
    bind_here = False
    if config.numa_membind:
        if not system.node_exists(plan.numa_node):
            notes.append(f"NUMA memory policy not applied: node {plan.numa_node} does not exist")
        else:
            numactl = system.numactl_prefix(plan.numa_node)
            if numactl:
                prefix += numactl
                notes.append(f"memory bound to NUMA node {plan.numa_node} (numactl --membind)")
            else:
                bind_here = True
    else:
        notes.append("NUMA memory policy not applied (numa_membind is false)")
    if config.onload:
        onload = shutil.which("onload") or "onload"
        prefix += [onload, f"--profile={config.onload_profile}"]
        notes.append(f"Onload profile {config.onload_profile}")
    return prefix, bind_here


class Launch:
    """One run of the engine under the launcher."""

    def __init__(self, args: argparse.Namespace, config: TraderConfig, plan: PlanView) -> None:
        self.args = args
        self.config = config
        self.plan = plan
        self.stats_dir = args.stats_dir or Path(config.stats_dir)
        self.engine_stats = self.stats_dir / "engine-stats.json"
        self.pid_file = self.stats_dir / "engine.pid"
        self.summary: dict[str, Any] = {
            "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "host": plan.host,
            "engine": config.engine,
            "threads_planned": plan.threads,
            "housekeeping_cpus": cpulist.render(plan.housekeeping),
            "notes": [],
        }
        self.placed: dict[int, threads.Placement] = {}
        self.proc: subprocess.Popen[bytes] | None = None
        # Signals are caught by a handler that only queues them; the launcher's own loop
        # looks at the engine's threads one last time, then forwards them (deliver_signals).
        self.pending: list[int] = []
        self.forwarded: list[str] = []
        self.stopped_by: str | None = None  # "launcher" (SIGTERM) or "forced" (SIGKILL)
        self.wake_r, self.wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)

    # ------------------------------------------------------------ steps

    def preflight(self) -> int | None:
        findings = preflight.run(self.plan, self.config, root=self.args.root)
        self.summary["preflight"] = [f.to_dict() for f in findings]
        failed = [f for f in findings if not f.ok]
        if self.args.preflight_only:
            if self.args.json:
                print(json.dumps([f.to_dict() for f in findings], indent=2))
            else:
                for finding in findings:
                    print(finding.explain())
            return EXIT_PREFLIGHT if failed else 0
        forced = self.args.force or self.config.force_preflight
        self.summary["forced"] = bool(failed and forced)
        if not failed:
            say(f"preflight passed ({len(findings)} controls)")
            return None
        lines = "\n".join("  " + f.explain() for f in failed)
        if forced:
            say(f"preflight failed, starting anyway (forced):\n{lines}")
            return None
        say(f"preflight failed; not starting the engine (--force overrides):\n{lines}")
        return EXIT_PREFLIGHT

    def start(self) -> subprocess.Popen[bytes]:
        config, plan = self.config, self.plan
        notes: list[str] = self.summary["notes"]
        online = online_cpus()
        housekeeping = plan.housekeeping & online
        os.sched_setaffinity(0, housekeeping)  # the launcher itself stays off isolated CPUs
        notes.append(system.set_memlock(config.memlock_mb))
        prefix, bound_here = wrappers(config, plan, notes)
        if bound_here:  # no numactl: set the policy here, the engine inherits it
            notes.append(system.bind_memory(plan.numa_node))
        command = [*prefix, *engine_command(config, plan, list(self.args.engine_args))]
        if config.stats_option:
            self.stats_dir.mkdir(parents=True, exist_ok=True)
            self.engine_stats.unlink(missing_ok=True)
            command += [config.stats_option, str(self.engine_stats)]
        env = {**os.environ, **config.onload_env}
        # The engine may place its planned threads itself, so it starts allowed on their
        # CPUs too; the launcher moves every other thread to housekeeping right after.
        start_cpus = housekeeping | frozenset(plan.threads.values())

        def child() -> None:
            os.sched_setaffinity(0, start_cpus)
            system.die_with_parent()

        self.summary["command"] = command
        say(f"starting: {' '.join(command)}")
        for note in notes:
            say(note)
        try:
            proc = subprocess.Popen(command, env=env, preexec_fn=child, start_new_session=True)
        except OSError as exc:
            raise LaunchError(f"cannot start {command[0]}: {exc.strerror or exc}") from None
        finally:
            if bound_here:
                system.reset_memory_policy()
        self.proc = proc
        self.summary["pid"] = proc.pid
        try:  # for operators and tools that attach to the engine (perf, gdb, the audit)
            self.stats_dir.mkdir(parents=True, exist_ok=True)
            self.pid_file.write_text(f"{proc.pid}\n")
        except OSError as exc:
            say(f"engine pid file not written: {exc}")
        return proc

    def forward_signals(self) -> None:
        """Queue SIGTERM, SIGINT and SIGUSR1 for the engine; the wake-up pipe ends any wait."""

        def queue(signum: int, _frame: FrameType | None) -> None:
            self.pending.append(signum)

        for sig in FORWARDED:
            signal.signal(sig, queue)
        signal.set_wakeup_fd(self.wake_w, warn_on_full_buffer=False)

    def deliver_signals(self, proc: subprocess.Popen[bytes]) -> None:
        """Forward queued signals; before each, one more look at the engine's threads.

        The look comes first because the engine's threads may end as soon as the signal
        reaches them, and the run summary must list every thread the engine ran with.
        """
        with contextlib.suppress(OSError):
            while os.read(self.wake_r, 512):
                pass
        while self.pending:
            signum = self.pending.pop(0)
            name = signal.Signals(signum).name
            if proc.poll() is not None:
                say(f"{name} received after the engine ended; not forwarded")
                continue
            self.pin(proc)
            say(f"forwarding {name} to the engine (pid {proc.pid})")
            os.kill(proc.pid, signum)
            self.forwarded.append(name)

    def pause(self, proc: subprocess.Popen[bytes], seconds: float) -> None:
        """Sleep at most `seconds`, waking early when a signal arrives."""
        if proc.poll() is None and seconds > 0:
            select.select([self.wake_r], [], [], seconds)

    def wait_for_threads(self, proc: subprocess.Popen[bytes]) -> str | None:
        """Wait until every planned thread exists; an error message if it never does."""
        deadline = time.monotonic() + self.config.thread_wait_s
        wanted = sorted(self.plan.threads)
        seen: list[threads.Task] = []
        while time.monotonic() < deadline:
            self.deliver_signals(proc)
            if proc.poll() is not None:
                return (
                    f"the engine exited (status {proc.returncode}) before starting "
                    f"thread(s) {', '.join(threads.missing(wanted, seen)) or '-'}"
                )
            seen = threads.tasks(proc.pid)
            if not threads.missing(wanted, seen):
                return None
            self.pause(proc, POLL_S)
        names = sorted({t.name for t in seen})
        return (
            f"thread(s) {', '.join(threads.missing(wanted, seen))} in the plan never appeared in "
            f"the engine within {self.config.thread_wait_s:g} s (its threads: "
            f"{', '.join(names) or 'none'}); fix trader_threads or the engine's thread names"
        )

    def pin(self, proc: subprocess.Popen[bytes]) -> list[str]:
        """One placement pass; returns the problems of planned threads."""
        changes = threads.place(
            proc.pid,
            self.plan.threads,
            self.plan.housekeeping & online_cpus(),
            sched_priority=self.config.sched_priority,
            seen=self.placed,
        )
        problems = []
        for record in changes:
            where = (
                f"CPU {record.planned_cpu}"
                if record.planned_cpu is not None
                else "housekeeping CPUs"
            )
            if record.error:
                line = f"thread {record.name} ({record.tid}) not pinned to {where}: {record.error}"
                say(line)
                if record.planned_cpu is not None:
                    problems.append(line)
            elif record.fixed:
                say(
                    f"thread {record.name} ({record.tid}) moved from CPUs {record.before} to "
                    f"{where} {record.after}, {record.policy}"
                )
            else:
                say(f"thread {record.name} ({record.tid}) on CPUs {record.after}, {record.policy}")
        return problems

    def stop(self, proc: subprocess.Popen[bytes]) -> None:
        if proc.poll() is not None:
            return
        self.pin(proc)  # the last look at its threads
        self.stopped_by = "launcher"
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            self.stopped_by = "forced"
            proc.kill()
            proc.wait()

    def ended_by(self, code: int) -> str:
        """How the engine ended, for the run summary."""
        if self.stopped_by == "forced":
            return f"forced: SIGKILL after {STOP_GRACE_S:g} s without stopping on SIGTERM"
        if self.stopped_by == "launcher":
            return "the launcher: SIGTERM, the engine could not run as planned"
        if code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:  # a real-time signal has no name of its own
                name = f"signal {-code}"
            if name in self.forwarded:
                return f"a forwarded signal: {name}"
            return f"a signal not sent through the launcher: {name}"
        if self.forwarded:
            return f"itself, with status {code}, after a forwarded {self.forwarded[-1]}"
        return f"itself, with status {code}"

    def finish(self, proc: subprocess.Popen[bytes], error: str | None = None) -> int:
        code = proc.returncode if proc.returncode is not None else proc.wait()
        self.pid_file.unlink(missing_ok=True)
        exit_code = code if code >= 0 else 128 - code
        self.summary.update(
            {
                "ended": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "engine_status": code,
                "exit_code": exit_code,
                "ended_by": self.ended_by(code),
                "signals_forwarded": list(self.forwarded),
                "threads": [p.to_dict() for p in self.placed.values()],
                "error": error,
            }
        )
        if self.config.stats_option:
            try:
                self.summary["engine_stats"] = json.loads(self.engine_stats.read_text())
            except (OSError, json.JSONDecodeError) as exc:
                self.summary["engine_stats"] = None
                self.summary["notes"].append(f"engine statistics not readable: {exc}")
        try:
            self.stats_dir.mkdir(parents=True, exist_ok=True)
            target = self.stats_dir / "last-run.json"
            tmp = target.with_suffix(".tmp")
            tmp.write_text(json.dumps(self.summary, indent=2) + "\n")
            tmp.replace(target)
            say(f"engine ended with status {code}; run summary in {target}")
        except OSError as exc:
            say(f"engine ended with status {code}; run summary not written: {exc}")
        return exit_code

    def run(self) -> int:
        refused = self.preflight()
        if refused is not None or self.args.preflight_only:
            return refused or 0
        proc = self.start()
        self.forward_signals()
        problem = self.wait_for_threads(proc)
        if problem is None:
            problems = self.pin(proc)
            if problems:
                problem = "; ".join(problems)
        if problem is not None:
            say(problem)
            self.stop(proc)
            self.finish(proc, problem)
            return EXIT_BAD_INPUT
        self.watch(proc)
        return self.finish(proc)

    def watch(self, proc: subprocess.Popen[bytes]) -> None:
        """Until the engine ends: forward signals, place new or renamed threads, re-check."""
        next_check = time.monotonic() + self.args.recheck_s
        last = threads.tasks(proc.pid)
        while proc.poll() is None:
            self.deliver_signals(proc)
            now = threads.tasks(proc.pid)
            if time.monotonic() >= next_check:
                self.pin(proc)
                next_check = time.monotonic() + self.args.recheck_s
            elif now != last:
                self.pin(proc)
            else:
                threads.refresh_last_cpu(proc.pid, self.placed)
            last = now
            self.pause(proc, min(WATCH_S, next_check - time.monotonic()))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        config, plan = load(args.config, args.plan)
        check_host(plan, config)
        check_threads(plan, config)
        check_cpus(plan)
        if not os.access(config.engine, os.X_OK):
            raise LaunchError(
                f"engine {config.engine} is missing or not executable; deploy it with roles/trader"
            )
        return Launch(args, config, plan).run()
    except ColotuneError as exc:
        say(str(exc))
        return EXIT_BAD_INPUT
