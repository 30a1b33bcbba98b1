"""Running the collector on a host over SSH, with connection settings from the Ansible inventory.

`collect(host_vars)` is the one-host entry point (`colotune plan -l HOST` uses
it for a live topology); `colotune.audit` fans the same collector out over
many hosts with pyinfra. Both read the connection variables Ansible would
use: ansible_host, ansible_port, ansible_user, ansible_ssh_private_key_file,
ansible_ssh_common_args (its `-o Key=Value` options).
"""

from __future__ import annotations

import json
import shlex
import subprocess
from dataclasses import dataclass, field
from typing import Any

from colotune import bundle
from colotune.errors import ColotuneError
from colotune.host import topology
from colotune.host.topology import Topology


def collector_script() -> str:
    """The collector as one python3 program (colotune.bundle): run by
    `bundle.stdin_command(options)` with the program on stdin, it prints the snapshot."""
    return bundle.program("collector")


def collector_command(args: list[str] | None = None, *, python: str = "python3") -> str:
    """One shell command that runs the collector with `args` (the program inline)."""
    return bundle.inline_command("collector", args, python=python)


class CollectError(ColotuneError):
    """A host that could not be read: unreachable, timed out, or no usable python3."""


@dataclass(frozen=True)
class Connection:
    """How to reach a host, as Ansible would."""

    name: str
    hostname: str
    port: int | None = None
    user: str | None = None
    key_file: str | None = None
    options: dict[str, str] = field(default_factory=dict)  # ssh -o Key=Value
    python: str = "python3"
    become: bool = False  # ansible_become: run the collector through `sudo -n`


def connection(host_vars: dict[str, Any]) -> Connection:
    """Connection settings from a host's merged inventory variables."""
    name = str(host_vars.get("inventory_hostname", host_vars.get("ansible_host", "")))
    options: dict[str, str] = {}
    common = str(host_vars.get("ansible_ssh_common_args") or "")
    common += " " + str(host_vars.get("ansible_ssh_extra_args") or "")
    words = shlex.split(common)
    i = 0
    while i < len(words):
        word = words[i]
        if word == "-o" and i + 1 < len(words):
            key, sep, value = words[i + 1].partition("=")
            if not sep:
                key, _, value = words[i + 1].partition(" ")
            options[key.strip()] = value.strip()
            i += 2
            continue
        if word.startswith("-o") and len(word) > 2:
            key, _, value = word[2:].partition("=")
            options[key.strip()] = value.strip()
        i += 1
    port = host_vars.get("ansible_port") or host_vars.get("ansible_ssh_port")
    user = host_vars.get("ansible_user") or host_vars.get("ansible_ssh_user")
    key_file = host_vars.get("ansible_ssh_private_key_file") or host_vars.get(
        "ansible_private_key_file"
    )
    python = str(host_vars.get("ansible_python_interpreter") or "python3")
    if python.startswith("auto"):
        python = "python3"
    return Connection(
        name=name,
        hostname=str(host_vars.get("ansible_host") or name),
        port=int(port) if port else None,
        user=str(user) if user else None,
        key_file=str(key_file) if key_file else None,
        options=options,
        python=python,
        become=str(host_vars.get("ansible_become", False)).lower() in ("true", "yes", "1"),
    )


def ssh_argv(conn: Connection, *, timeout: float) -> list[str]:
    """The OpenSSH client command line for a connection (BatchMode: never prompts)."""
    argv = ["ssh", "-o", "BatchMode=yes", "-o", f"ConnectTimeout={max(1, int(timeout))}"]
    for key, value in conn.options.items():
        argv += ["-o", f"{key}={value}"]
    if conn.port:
        argv += ["-p", str(conn.port)]
    if conn.user:
        argv += ["-l", conn.user]
    if conn.key_file:
        argv += ["-i", conn.key_file]
    return [*argv, conn.hostname]


def collector_args(
    *,
    watch_cpus: str | None = None,
    irq_window: float = 0.0,
    ptp_window: float = 0.0,
    nics: list[str] | None = None,
    ptp_domain: int = 0,
) -> list[str]:
    """Collector options: tasks on these CPUs, measuring windows, ethtool only on these NICs."""
    args: list[str] = []
    if nics:
        args += ["--nics", ",".join(nics)]
    if ptp_domain:
        args += ["--pmc-domain", str(ptp_domain)]
    if watch_cpus is not None:
        args += ["--watch-cpus", watch_cpus]
    if irq_window > 0:
        args += ["--irq-window", str(irq_window)]
    if ptp_window > 0:
        args += ["--ptp-window", str(ptp_window)]
    return args


def decode(name: str, stdout: str, stderr: str, rc: int | None) -> dict[str, Any]:
    """The snapshot from a collector's output, or a CollectError saying why not."""
    if rc != 0:
        detail = (stderr.strip().splitlines() or [f"exit status {rc}"])[-1]
        if rc == 255:
            raise CollectError(f"{name}: unreachable over SSH ({detail})")
        if rc == 127 or "python3: command not found" in stderr or "not found" in detail:
            raise CollectError(f"{name}: no python3 on the host ({detail})")
        raise CollectError(f"{name}: the collector failed ({detail})")
    try:
        raw = json.loads(stdout)
    except json.JSONDecodeError as exc:
        raise CollectError(f"{name}: the collector printed no JSON snapshot ({exc})") from exc
    if not isinstance(raw, dict):
        raise CollectError(f"{name}: the collector printed no JSON snapshot")
    return raw


def collect(host_vars: dict[str, Any], *, timeout: float = 30.0, **options: Any) -> dict[str, Any]:
    """Run the collector on one inventory host over SSH and return its snapshot (a dict).

    `host_vars` are the host's merged inventory variables (InventoryHost.vars).
    The topology inside is read with `colotune.host.topology.from_snapshot(raw["topology"])`.
    Raises CollectError when the host cannot be read within `timeout` seconds.
    """
    conn = connection(host_vars)
    python = f"sudo -n {conn.python}" if conn.become else conn.python
    command = collector_command(collector_args(**options), python=python)
    done = ssh_run(conn, command, timeout=timeout, late="no snapshot")
    return decode(conn.name, done.stdout, done.stderr, done.returncode)


def ssh_run(
    conn: Connection,
    command: str,
    *,
    timeout: float,
    late: str,
    connect_timeout: float | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run one shell command on the host over SSH, as Ansible would connect. CollectError
    when ssh cannot run or the command has not ended in `timeout` seconds (`late` names
    what is missing then, e.g. "no snapshot")."""
    argv = [*ssh_argv(conn, timeout=connect_timeout or timeout), command]
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise CollectError(f"{conn.name}: {late} within {timeout:g} s (timed out)") from exc
    except OSError as exc:
        raise CollectError(f"{conn.name}: cannot run ssh ({exc})") from exc


def live_topology(host_vars: dict[str, Any], *, timeout: float = 30.0) -> Topology:
    """The topology of a live inventory host, read over SSH by the collector."""
    raw = collect(host_vars, timeout=timeout)
    name = str(host_vars.get("inventory_hostname", "host"))
    data = raw.get("topology")
    if not isinstance(data, dict):
        raise CollectError(f"{name}: the snapshot carries no topology")
    return topology.from_snapshot(data, source=f"ssh://{name}")
