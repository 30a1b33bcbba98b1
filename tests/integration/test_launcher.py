"""colotune-launch for real on this machine: real engines, threads pinned as /proc shows them.

The machine has CPUs 0 and 1 and no isolated CPU, so the plans here isolate CPU 1
(housekeeping 0): preflight then fails for real (TUN-002: the kernel isolates
nothing), which the refusal tests use, and the start tests pass --force.
Engines: the reference engine t2t against gwsim on loopback (built with make),
and a small Python stand-in with named threads and no pinning option of its own
(launcher_engine/threaded.py), for the path where the launcher pins after start.
Every process is stopped by PID; files live in pytest's tmp_path.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from colotune.host import cpulist

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
LAUNCH = REPO / ".venv" / "bin" / "colotune-launch"
STANDIN = Path(__file__).parent / "launcher_engine" / "threaded.py"
ENGINE = REPO / "engine"

if len(os.sched_getaffinity(0)) < 2:
    pytest.skip("needs CPUs 0 and 1", allow_module_level=True)


def wait_for(cond: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


def plan_doc(threads: dict[str, int], /, **changes: Any) -> dict[str, Any]:
    nic = sorted(n for n in os.listdir("/sys/class/net") if n != "lo")[0]
    plan: dict[str, Any] = {
        "host": socket.gethostname(),
        "housekeeping_cpus": "0",
        "isolated_cpus": "1",
        "idle_cpus": "",
        "irq_cpus": "0",
        "numa_node": 0,
        "nic": {"name": nic, "numa_node": 0, "pci_address": None, "driver": None},
        "hugepages": {},
        "hugepages_runtime": False,
        "kernel_args": [],
        "threads": threads,
        "explanations": [],
    }
    plan.update(changes)
    return plan


@dataclass
class Files:
    dir: Path

    def write(self, plan: dict[str, Any], config: dict[str, Any]) -> list[str]:
        (self.dir / "plan.json").write_text(json.dumps(plan))
        base = {"stats_dir": str(self.dir / "stats"), "profile": {"ptp_enabled": False}}
        (self.dir / "trader.json").write_text(json.dumps({**base, **config}))
        return ["--config", str(self.dir / "trader.json"), "--plan", str(self.dir / "plan.json")]


@pytest.fixture
def files(tmp_path: Path) -> Files:
    return Files(tmp_path)


def standin_config(out: Path, names: list[str], **more: Any) -> dict[str, Any]:
    return {
        "engine": sys.executable,
        "args": [str(STANDIN), "--names", ",".join(names), "--out", str(out), "--exit-code", "7"],
        "threads": [n for n in names if n.endswith("hot")],
        "pin_option": None,
        "stats_option": None,
        "thread_wait_s": 10,
        **more,
    }


class Launcher:
    """colotune-launch as a child process; stopped by PID at the end, with its engine."""

    def __init__(self, argv: list[str], env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            [str(LAUNCH), *argv],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.engine_pid: int | None = None

    def engine(self, stats_dir: Path) -> int:
        """The engine's PID, from the pid file the launcher writes (and a child of it)."""
        pid_file = stats_dir / "engine.pid"

        def child() -> int | None:
            if self.proc.poll() is not None:
                raise AssertionError(f"launcher exited: {self.proc.communicate()[1]}")
            try:
                pid = int(pid_file.read_text())
                ppid = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1]
            except (OSError, ValueError):
                return None
            return pid if int(ppid) == self.proc.pid else None

        self.engine_pid = wait_for(child, 20, "the engine process")
        return self.engine_pid

    def wait(self, timeout: float = 30) -> tuple[int, str]:
        _, err = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, err

    def stop(self) -> None:
        for pid in (self.proc.pid, self.engine_pid):
            if pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        self.proc.communicate(timeout=10)


@pytest.fixture
def launchers() -> Iterator[list[Launcher]]:
    started: list[Launcher] = []
    yield started
    for launcher in started:
        if launcher.proc.poll() is None or (
            launcher.engine_pid and Path(f"/proc/{launcher.engine_pid}").exists()
        ):
            launcher.stop()


def threads_of(pid: int) -> dict[str, tuple[int, frozenset[int], list[str]]]:
    """name -> (tid, Cpus_allowed_list, stat fields after the command name)."""
    found = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return {}
    for tid in tids:
        base = Path(f"/proc/{pid}/task/{tid}")
        try:
            name = (base / "comm").read_text().strip()
            status = (base / "status").read_text()
            stat = (base / "stat").read_text()
        except OSError:
            continue
        allowed = next(
            line.split(":", 1)[1]
            for line in status.splitlines()
            if line.startswith("Cpus_allowed_list")
        )
        found[name] = (int(tid), cpulist.parse(allowed), stat[stat.rfind(")") + 2 :].split())
    return found


def pinned(pid: int, expected: dict[str, frozenset[int]]) -> bool:
    seen = threads_of(pid)
    return all(name in seen and seen[name][1] == cpus for name, cpus in expected.items())


# ---------------------------------------------------------------- the reference engine


@pytest.fixture(scope="module")
def engine_bin() -> Path:
    if shutil.which("make") is None or shutil.which("cc") is None:
        pytest.skip("make and cc are needed to build the engine (scripts/install)")
    subprocess.run(["make", "-s", "-C", str(ENGINE)], check=True, capture_output=True)
    return ENGINE / "build"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def gateway(engine_bin: Path, tmp_path: Path) -> Iterator[int]:
    port = free_port()
    proc = subprocess.Popen(
        [
            str(engine_bin / "gwsim"),
            "--listen",
            f"127.0.0.1:{port}",
            "--report",
            str(tmp_path / "gw.json"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )

    def listening() -> bool:
        with socket.socket() as sock:
            return sock.connect_ex(("127.0.0.1", port)) == 0

    try:
        wait_for(listening, 10, "gwsim to listen")
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_t2t_threads_pinned_where_the_plan_says_and_signals_forwarded(
    files: Files, engine_bin: Path, gateway: int, launchers: list[Launcher]
) -> None:
    feed = free_port()
    argv = files.write(
        plan_doc({"t2t-hot": 1}),
        {
            "engine": str(engine_bin / "t2t"),
            "args": [
                "--gateway",
                f"127.0.0.1:{gateway}",
                "--port",
                str(feed),
                "--group",
                "239.7.7.7",
            ],
            "threads": ["t2t-hot"],
        },
    )
    launcher = Launcher([*argv, "--force"])
    launchers.append(launcher)
    pid = launcher.engine(files.dir / "stats")
    # The hot thread on its isolated CPU; the session and main threads on housekeeping.
    wanted = {"t2t-hot": frozenset({1}), "t2t-session": frozenset({0}), "t2t": frozenset({0})}
    wait_for(lambda: pinned(pid, wanted), 20, f"t2t threads pinned as {wanted}")
    # The hot thread busy-polls: the kernel has it running on CPU 1 (stat field 39).
    hot_tid = threads_of(pid)["t2t-hot"][0]
    wait_for(
        lambda: threads_of(pid)["t2t-hot"][2][36] == "1",
        5,
        f"t2t-hot ({hot_tid}) last ran on CPU 1",
    )

    stats = files.dir / "stats" / "engine-stats.json"
    os.kill(launcher.proc.pid, signal.SIGUSR1)
    report = wait_for(lambda: stats.exists() and stats.stat().st_size > 0, 10, "stats after USR1")
    assert report
    assert launcher.proc.poll() is None, "SIGUSR1 must not stop the engine"

    os.kill(launcher.proc.pid, signal.SIGTERM)
    code, err = launcher.wait()
    assert code == 0, err
    assert "forwarding SIGUSR1" in err and "forwarding SIGTERM" in err
    summary = json.loads((files.dir / "stats" / "last-run.json").read_text())
    assert summary["exit_code"] == 0
    assert summary["forced"] is True
    assert isinstance(summary["engine_stats"], dict)
    by_name = {t["name"]: t for t in summary["threads"]}
    assert by_name["t2t-hot"]["after"] == "1"
    assert by_name["t2t-hot"]["last_cpu"] == 1
    assert by_name["t2t-session"]["after"] == "0"
    assert summary["signals_forwarded"] == ["SIGUSR1", "SIGTERM"]
    assert summary["ended_by"] == "itself, with status 0, after a forwarded SIGTERM"
    assert not Path(f"/proc/{pid}").exists()


# ---------------------------------------------------------------- an engine that pins nothing


def test_launcher_pins_threads_of_an_engine_without_a_pin_option(
    files: Files, launchers: list[Launcher]
) -> None:
    out = files.dir / "engine"
    out.mkdir()
    argv = files.write(
        plan_doc({"lt-hot": 1}), standin_config(out, ["lt-hot", "lt-aux"], sched_priority=5)
    )
    env = {**os.environ, "PATH": "/usr/bin:/bin"}
    env["PATH"] = ":".join(p for p in env["PATH"].split(":") if not Path(p, "numactl").exists())
    launcher = Launcher([*argv, "--force", "--recheck-s", "0.2"], env=env)
    launchers.append(launcher)
    pid = launcher.engine(files.dir / "stats")
    wait_for(lambda: (out / "ready").exists(), 20, "the stand-in's threads")
    wanted = {"lt-hot": frozenset({1}), "lt-aux": frozenset({0})}
    wait_for(lambda: pinned(pid, wanted), 10, f"threads pinned as {wanted}")
    seen = threads_of(pid)
    # SCHED_FIFO (policy 1) at priority 5 for the planned thread only (stat fields 40, 41).
    assert seen["lt-hot"][2][37:39] == ["5", "1"], seen["lt-hot"][2][37:39]
    assert seen["lt-aux"][2][38] == "0"
    # No numactl on PATH: the launcher bound the memory itself (set_mempolicy), inherited.
    assert "bind:0" in Path(f"/proc/{pid}/numa_maps").read_text()

    # A thread moved away by someone else is put back by the periodic re-check.
    tid = seen["lt-hot"][0]
    os.sched_setaffinity(tid, {0, 1})
    wait_for(lambda: pinned(pid, wanted), 10, "lt-hot put back on CPU 1")

    os.kill(launcher.proc.pid, signal.SIGUSR1)
    wait_for(lambda: (out / "stats.json").exists(), 10, "the stand-in's SIGUSR1 stats")
    os.kill(launcher.proc.pid, signal.SIGINT)
    code, err = launcher.wait()
    assert code == 7, err  # the engine's own exit code
    assert (out / "signals").read_text().split() == ["SIGUSR1", "SIGINT"]
    assert "set_mempolicy" in err
    summary = json.loads((files.dir / "stats" / "last-run.json").read_text())
    assert summary["exit_code"] == 7
    assert any("set_mempolicy" in note for note in summary["notes"])


def test_numactl_binds_memory_when_installed(files: Files, launchers: list[Launcher]) -> None:
    if shutil.which("numactl") is None:
        pytest.skip("numactl is not installed (scripts/install installs it)")
    out = files.dir / "engine"
    out.mkdir()
    argv = files.write(plan_doc({"lt-hot": 1}), standin_config(out, ["lt-hot"]))
    launcher = Launcher([*argv, "--force"])
    launchers.append(launcher)
    pid = launcher.engine(files.dir / "stats")
    wait_for(lambda: (out / "ready").exists(), 20, "the stand-in's threads")
    # Stop only once the launcher has pinned the thread: stopped earlier, it rightly reports
    # an engine that ended before starting its threads.
    wanted = {"lt-hot": frozenset({1})}
    wait_for(lambda: pinned(pid, wanted), 10, f"threads pinned as {wanted}")
    assert "bind:0" in Path(f"/proc/{pid}/numa_maps").read_text()
    os.kill(launcher.proc.pid, signal.SIGTERM)
    code, err = launcher.wait()
    assert code == 7, err
    assert "numactl --membind" in err


# ---------------------------------------------------------------- the run summary
# The launcher places threads when the planned ones appear and re-checks every --recheck-s
# (600 s here, so no periodic re-check can help): a thread that starts or takes its name
# after the first placement must still be placed and listed in last-run.json.


def summary_threads(files: Files) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    summary = json.loads((files.dir / "stats" / "last-run.json").read_text())
    return summary, {t["name"]: t for t in summary["threads"]}


def launch_standin(
    files: Files, launchers: list[Launcher], names: list[str], more: list[str], **config: Any
) -> tuple[Launcher, Path]:
    """The stand-in under the launcher (plan: lt-hot on CPU 1), with more stand-in options."""
    out = files.dir / "engine"
    out.mkdir()
    engine = standin_config(out, names, **config)
    engine["args"] += more
    argv = files.write(plan_doc({"lt-hot": 1}), engine)
    launcher = Launcher([*argv, "--force", "--recheck-s", "600"])
    launchers.append(launcher)
    return launcher, out


def test_run_summary_lists_a_thread_that_takes_its_name_late(
    files: Files, launchers: list[Launcher]
) -> None:
    launcher, _ = launch_standin(files, launchers, ["lt-hot", "lt-aux"], ["--late", "lt-aux=1.0"])
    pid = launcher.engine(files.dir / "stats")
    wait_for(lambda: "lt-aux" in threads_of(pid), 20, "lt-aux to take its name")
    # Read only now: the engine's process may start as numactl and exec the stand-in.
    creator = Path(f"/proc/{pid}/comm").read_text().strip()
    os.kill(launcher.proc.pid, signal.SIGTERM)
    code, err = launcher.wait()
    assert code == 7, err
    summary, by_name = summary_threads(files)
    assert by_name["lt-aux"]["renamed_from"] == [creator], summary["threads"]
    assert by_name["lt-aux"]["after"] == "0"
    assert by_name["lt-aux"]["last_cpu"] == 0
    assert by_name["lt-hot"]["after"] == "1"
    assert by_name["lt-hot"]["last_cpu"] == 1
    assert summary["signals_forwarded"] == ["SIGTERM"]
    assert summary["ended_by"] == "itself, with status 7, after a forwarded SIGTERM"


def test_run_summary_lists_a_thread_started_late_in_an_engine_that_ends_itself(
    files: Files, launchers: list[Launcher]
) -> None:
    more = ["--start-after", "lt-late=0.5", "--end-after", "2"]
    launcher, _ = launch_standin(files, launchers, ["lt-hot", "lt-late"], more)
    code, err = launcher.wait()
    assert code == 7, err
    summary, by_name = summary_threads(files)
    assert by_name["lt-late"]["after"] == "0", summary["threads"]
    assert by_name["lt-late"]["planned_cpu"] is None
    assert f"thread lt-late ({by_name['lt-late']['tid']})" in err
    assert summary["signals_forwarded"] == []
    assert summary["ended_by"] == "itself, with status 7"


def test_run_summary_names_a_signal_from_elsewhere(files: Files, launchers: list[Launcher]) -> None:
    launcher, out = launch_standin(files, launchers, ["lt-hot"], [])
    pid = launcher.engine(files.dir / "stats")
    wait_for(lambda: pinned(pid, {"lt-hot": frozenset({1})}), 20, "lt-hot pinned to CPU 1")
    os.kill(pid, signal.SIGKILL)  # as the OOM killer or an operator would
    code, err = launcher.wait()
    assert code == 128 + signal.SIGKILL, err
    summary, by_name = summary_threads(files)
    assert summary["ended_by"] == "a signal not sent through the launcher: SIGKILL"
    assert by_name["lt-hot"]["after"] == "1"


def test_run_summary_says_when_the_stop_was_forced(files: Files, launchers: list[Launcher]) -> None:
    launcher, out = launch_standin(
        files, launchers, ["lt-aux"], ["--ignore-term"], threads=["lt-hot"], thread_wait_s=1
    )
    code, err = launcher.wait(timeout=60)
    assert code == 2, err
    summary, by_name = summary_threads(files)
    assert summary["engine_status"] == -signal.SIGKILL
    assert summary["ended_by"] == "forced: SIGKILL after 10 s without stopping on SIGTERM"
    assert "lt-aux" in by_name, summary["threads"]
    assert (out / "signals").read_text().split() == ["SIGTERM"]


# ---------------------------------------------------------------- refusals


def test_preflight_refuses_with_the_list_of_failures(files: Files) -> None:
    out = files.dir / "engine"
    out.mkdir()
    plan = plan_doc({"lt-hot": 1}, nic={"name": "nosuch0", "numa_node": 0})
    argv = files.write(plan, standin_config(out, ["lt-hot"], hugepages_free=1, onload=True))
    done = subprocess.run([str(LAUNCH), *argv], capture_output=True, text=True, timeout=60)
    assert done.returncode == 3, done.stderr
    assert "not starting the engine" in done.stderr
    for control in ("TUN-002 fail", "LCH-001 fail", "LCH-002 fail", "LCH-003 fail"):
        assert control in done.stderr, done.stderr
    assert "nosuch0" in done.stderr
    assert not (out / "ready").exists(), "the engine must not have been started"

    shown = subprocess.run(
        [str(LAUNCH), *argv, "--preflight-only", "--json"], capture_output=True, text=True
    )
    assert shown.returncode == 3
    verdicts = {f["control"]: f["status"] for f in json.loads(shown.stdout)}
    assert verdicts["TUN-002"] == "fail" and verdicts["PTP-003"] == "not_applicable"


@pytest.mark.parametrize(
    ("plan_change", "config_change", "message"),
    [
        ({"host": "ny4-trade99"}, {}, "the plan is for host 'ny4-trade99'"),
        ({"threads": {"lt-hot": 0}}, {}, "thread CPU not isolated: lt-hot=0"),
        ({"isolated_cpus": "1,63", "threads": {"lt-hot": 63}}, {}, "not online here: lt-hot=63"),
        ({}, {"threads": ["lt-hot", "lt-warm"]}, "the trader config expects"),
    ],
    ids=["other-host", "cpu-not-isolated", "cpu-offline", "threads-differ"],
)
def test_bad_input_exits_2_before_starting(
    files: Files, plan_change: dict[str, Any], config_change: dict[str, Any], message: str
) -> None:
    out = files.dir / "engine"
    out.mkdir()
    config = {**standin_config(out, ["lt-hot"]), **config_change}
    argv = files.write(plan_doc({"lt-hot": 1}, **plan_change), config)
    done = subprocess.run([str(LAUNCH), *argv, "--force"], capture_output=True, text=True)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert not (out / "ready").exists()


def test_missing_plan_exits_2(files: Files) -> None:
    argv = files.write(plan_doc({}), {"engine": sys.executable, "threads": []})
    (files.dir / "plan.json").unlink()
    done = subprocess.run([str(LAUNCH), *argv], capture_output=True, text=True)
    assert done.returncode == 2
    assert f"plan file {files.dir / 'plan.json'} does not exist" in done.stderr


def test_planned_thread_the_engine_never_starts_exits_2(
    files: Files, launchers: list[Launcher]
) -> None:
    out = files.dir / "engine"
    out.mkdir()
    config = standin_config(out, ["lt-aux"], threads=["lt-hot"], thread_wait_s=2)
    argv = files.write(plan_doc({"lt-hot": 1}), config)
    launcher = Launcher([*argv, "--force"])
    launchers.append(launcher)
    pid = launcher.engine(files.dir / "stats")
    code, err = launcher.wait(timeout=40)
    assert code == 2, err
    assert "thread(s) lt-hot in the plan never appeared in the engine" in err
    assert "lt-aux" in err  # names the threads it did see
    assert not Path(f"/proc/{pid}").exists(), "the engine must have been stopped"
    summary = json.loads((files.dir / "stats" / "last-run.json").read_text())
    assert summary["ended_by"] == "the launcher: SIGTERM, the engine could not run as planned"
