"""The colotune_tune action run by ansible-playbook against this machine, in check mode.

The action sends the tuning engine to the host as one program (colotune.bundle) and
returns what it would change; check mode writes nothing. Here the host is this machine
over Ansible's local connection: the same action, connection plugin and become path a
play uses, read-only.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
PLAYBOOK = REPO / ".venv" / "bin" / "ansible-playbook"
DESIRED = {  # nothing this machine cannot be asked (no NIC, no cpufreq)
    "nic": None,
    "irq_cpus": "0",
    "housekeeping_cpus": "0",
    "thp": "never",
    "sysctls": {"vm.swappiness": {"value": "0", "control": "TUN-019", "at_least": False}},
    "coalescing": {},
    "hugepages_runtime": {},
}


def _play(tmp_path: Path, args: dict[str, object]) -> tuple[int, str, dict[str, object]]:
    out = tmp_path / "result.json"
    play = [
        {
            "hosts": "localhost",
            "connection": "local",
            "gather_facts": False,
            "tasks": [
                {"name": "tune", "colotune_tune": args, "register": "tuned"},
                {
                    "name": "keep the result",
                    "ansible.builtin.copy": {"content": "{{ tuned | to_json }}", "dest": str(out)},
                    "check_mode": False,
                },
            ],
        }
    ]
    (tmp_path / "play.yml").write_text(json.dumps(play))
    env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_FORCE_COLOR": "0"}
    argv = [str(PLAYBOOK), "-i", "localhost,", "--check", str(tmp_path / "play.yml")]
    done = subprocess.run(
        [*argv, "-e", "ansible_python_interpreter=/usr/bin/python3"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    result = json.loads(out.read_text()) if out.exists() else {}
    return done.returncode, done.stdout + done.stderr, result


def test_the_action_reports_what_it_would_change_and_changes_nothing(tmp_path: Path) -> None:
    before = Path("/proc/sys/vm/swappiness").read_text()
    # the guard outside market hours allows every risk class, reboot included
    rc, output, result = _play(
        tmp_path, {"desired": DESIRED, "allow": ["live", "disruptive", "reboot"]}
    )
    assert rc == 0, output[-3000:]
    assert isinstance(result["changes"], list) and "diff" in result
    wanted = [line for line in result["changes"] if "proc/sys/vm/swappiness" in str(line)]
    assert bool(wanted) == (before.strip() != "0"), result["changes"]
    assert Path("/proc/sys/vm/swappiness").read_text() == before  # check mode


def test_bad_arguments_are_named_before_the_host_is_touched(tmp_path: Path) -> None:
    rc, output, _ = _play(tmp_path, {"desired": DESIRED, "allow": ["live", "sometimes"]})
    assert rc != 0
    words = " ".join(output.split())
    assert "colotune_tune: allow must be a list of live, disruptive, reboot" in words
