"""roles/trader on a lab VM: the reference engine deployed, pinned, idempotent, guarded.

One `1s4c` VM (shared by the session, put back on the pristine image at the end of
this module). The engine is the repository's t2t; gwsim runs in the VM as its
order gateway so that t2t can log in and keep running. The kernel of the pristine
VM isolates nothing (roles/tuning and its reboot are proven in test_tuning.py), so
the launcher's preflight fails there for real and `trader_force_preflight` starts
the engine anyway; pinning is then judged from the VM's own /proc.
Order matters: each test starts from the state the previous one left.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.vm, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
OUTSIDE = "2026-11-22T12:00:00-05:00"  # a Sunday: no session
INSIDE = "2026-11-23T10:00:00-05:00"  # a Monday, 10:00 New York
RELEASES = "/opt/colotune/engine/releases"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass
class Trader:
    vm: Any
    engine: Path
    times: dict[str, float] = field(default_factory=dict)

    def sh(self, command: str) -> str:
        return str(self.vm.run(command)).strip()

    def play(self, *extra: str, name: str, now: str = OUTSIDE, engine: Path | None = None) -> Any:
        """The trader play on the VM (conftest.LabVm.play): a conftest.PlayRun."""
        binary = engine or self.engine
        variables = {
            # the lab group never trades (no trading days): pin the days so that `now` decides
            "colotune_now": now,
            "colotune_trading_days": ["mon", "tue", "wed", "thu", "fri"],
            "trader_engine_src": str(binary),
            "trader_engine_sha256": sha256(binary),
            "trader_engine_args": ["--gateway", "127.0.0.1:31002", "--connect-timeout-ms", "60000"],
            "trader_force_preflight": True,
            "trader_thread_wait_s": 120,
        }
        run = self.vm.play("playbooks/trader.yml", "-e", json.dumps(variables), *extra)
        self.times[name] = run.seconds
        print(f"\n[trader] {name}: {run.seconds:.1f} s, rc={run.rc}, changed={run.changed}")
        return run

    def engine_pid(self) -> int:
        return int(self.sh("cat /var/lib/colotune/trader/engine.pid"))

    def wait_engine(self, timeout: float = 180) -> int:
        """PID of t2t once its hot thread exists (the VM is emulated: bounded, generous)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            out = self.sh(
                "pid=$(cat /var/lib/colotune/trader/engine.pid 2>/dev/null) && "
                "grep -l '^t2t-hot$' /proc/$pid/task/*/comm >/dev/null 2>&1 && echo $pid || true"
            )
            if out.isdigit():
                return int(out)
            time.sleep(1)
        raise TimeoutError(
            "t2t-hot never appeared: "
            + self.sh("journalctl -u colotune-trader --no-pager -n 40 || true")
        )

    def fingerprint(self) -> str:
        """What a refused run must leave as it was: files, links and the engine's PID."""
        return self.sh(
            "sha256sum /etc/colotune/trader.json /etc/colotune/plan.json "
            "/etc/systemd/system/colotune-trader.service; readlink /opt/colotune/engine/current; "
            "readlink /opt/colotune/engine/previous || true; "
            "cat /var/lib/colotune/trader/engine.pid"
        )


@pytest.fixture(scope="module")
def trader(vm_1s4c: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Trader]:
    build = REPO / "engine" / "build"
    subprocess.run(["make", "-s", "-C", str(REPO / "engine")], check=True, capture_output=True)
    engine_dir = tmp_path_factory.mktemp("engine")
    engine = engine_dir / "t2t"
    shutil.copy2(build / "t2t", engine)
    vm_1s4c.lab.copy_to(vm_1s4c.name, build / "gwsim", "/usr/local/bin")
    vm_1s4c.run(
        "chmod 755 /usr/local/bin/gwsim && systemd-run --unit=gwsim "
        "/usr/local/bin/gwsim --listen 127.0.0.1:31002 --report /run/gwsim.json"
    )
    state = Trader(vm_1s4c, engine)
    try:
        yield state
    finally:
        print(
            f"\n[trader] play times: {json.dumps({k: round(v, 1) for k, v in state.times.items()})}"
        )
        vm_1s4c.lab.reset(vm_1s4c.name)


def test_deploy_runs_the_engine_pinned_as_the_plan_says(trader: Trader) -> None:
    run = trader.play(name="deploy")
    assert run.rc == 0, run.output[-6000:]
    pid = trader.wait_engine()
    plan = json.loads(trader.sh("cat /etc/colotune/plan.json"))
    hot_cpu = plan["threads"]["t2t-hot"]
    housekeeping = plan["housekeeping_cpus"]
    # Wait for the launcher to have placed every thread (it logs each one).
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        allowed = {}
        for line in trader.sh(
            f'for t in /proc/{pid}/task/*; do echo "$(cat $t/comm) '
            f"$(awk '/Cpus_allowed_list/ {{print $2}}' $t/status)\"; done"
        ).splitlines():
            name, cpus = line.split()
            allowed[name] = cpus
        if allowed.get("t2t-hot") == str(hot_cpu) and allowed.get("t2t-session") == housekeeping:
            break
        time.sleep(1)
    assert allowed["t2t-hot"] == str(hot_cpu), allowed
    assert allowed["t2t-session"] == allowed["t2t"] == housekeeping, allowed
    # Unprivileged, with exactly the two capabilities (CAP_SYS_NICE=23, CAP_IPC_LOCK=14).
    assert trader.sh(f"stat -c %U /proc/{pid}") == "trader"
    eff = int(trader.sh(f"awk '/^CapEff/ {{print $2}}' /proc/{pid}/status"), 16)
    assert eff == (1 << 23) | (1 << 14), hex(eff)
    release = trader.sh("readlink /opt/colotune/engine/current")
    assert release == f"{RELEASES}/{sha256(trader.engine)}"
    assert trader.sh(f"sha256sum {release}/t2t").split()[0] == sha256(trader.engine)


def test_a_second_run_changes_nothing(trader: Trader) -> None:
    pid = trader.engine_pid()
    run = trader.play(name="rerun")
    assert run.rc == 0, run.output[-6000:]
    assert run.changed == 0, run.output[-6000:]
    assert trader.engine_pid() == pid


def test_a_wrong_checksum_is_refused_before_anything_changes(trader: Trader) -> None:
    before = trader.fingerprint()
    wrong = "0" * 64
    run = trader.play("-e", f"trader_engine_sha256={wrong}", name="wrong checksum")
    assert run.rc != 0
    assert f"engine binary {trader.engine}" in run.words
    assert f"expected sha256 {wrong}" in run.words
    assert f"actual {sha256(trader.engine)}" in run.words
    assert trader.fingerprint() == before


def test_restarting_the_engine_is_refused_inside_market_hours(trader: Trader) -> None:
    before = trader.fingerprint()
    run = trader.play(
        "-e",
        '{"trader_engine_args": ["--gateway", "127.0.0.1:31002", "--order-qty", "200"]}',
        name="inside market hours",
        now=INSIDE,
    )
    assert run.rc != 0
    assert "the engine is running" in run.words and "Nothing was changed" in run.words
    assert "trader config" in run.words  # says what would have changed
    assert trader.fingerprint() == before


def test_a_new_release_outside_hours_keeps_the_previous_for_rollback(
    trader: Trader, tmp_path: Path
) -> None:
    old_pid = trader.engine_pid()
    newer = tmp_path / "t2t"
    newer.write_bytes(trader.engine.read_bytes() + b"\0")  # same program, another checksum
    newer.chmod(0o755)
    run = trader.play(name="new release", engine=newer)
    assert run.rc == 0, run.output[-6000:]
    assert trader.sh("readlink /opt/colotune/engine/current") == f"{RELEASES}/{sha256(newer)}"
    assert trader.sh("readlink /opt/colotune/engine/previous") == (
        f"{RELEASES}/{sha256(trader.engine)}"
    )
    pid = trader.wait_engine()
    assert pid != old_pid, "the running engine must have been restarted on the new release"
