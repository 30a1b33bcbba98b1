"""Run the collector on many hosts at once over SSH, with pyinfra's SSH connector.

Connection settings come from the Ansible inventory (ansible_host,
ansible_port, ansible_user, ansible_ssh_private_key_file and the `-o`
options of ansible_ssh_common_args), mapped onto pyinfra's host data.

pyinfra's own parallelism is gevent greenlets, which only run in parallel
once the whole process is monkey-patched (`gevent.monkey.patch_all()` before
anything else imports socket or ssl), as pyinfra's CLI does at start-up.
`colotune` is a general CLI that imports ansible-core first, so patching
there is neither early nor safe; instead each host's pyinfra connect + command
runs in a worker thread (paramiko is thread-safe per connection). Every host
gets a deadline: connect and command timeouts inside pyinfra, and a wait
bounded by the same deadline here, so a dead host costs its timeout and is
reported, never a hang.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from colotune.bundle import stdin_command
from colotune.errors import ColotuneError
from colotune.facts import remote
from colotune.facts.remote import collector_script


@dataclass
class Outcome:
    """One host's collection: a snapshot, or the reason there is none."""

    host: str
    raw: dict[str, Any] | None
    error: str | None
    seconds: float


def pyinfra_data(host_vars: dict[str, Any], *, timeout: float = 20.0) -> dict[str, Any]:
    """pyinfra host data (ssh_*) for an inventory host's connection variables."""
    conn = remote.connection(host_vars)
    data: dict[str, Any] = {
        "ssh_hostname": conn.hostname,
        "ssh_connect_retries": 0,
        # A host that accepts TCP but never speaks SSH must not hold a worker past the
        # deadline (paramiko waits 15 s for a banner by default).
        "ssh_paramiko_connect_kwargs": {
            "banner_timeout": timeout,
            "auth_timeout": timeout,
            "channel_timeout": timeout,
        },
    }
    if conn.port:
        data["ssh_port"] = conn.port
    if conn.user:
        data["ssh_user"] = conn.user
    if conn.key_file:
        data["ssh_key"] = conn.key_file
    options = {k.lower(): v for k, v in conn.options.items()}
    if "stricthostkeychecking" in options:
        value = options["stricthostkeychecking"].lower()
        data["ssh_strict_host_key_checking"] = {"yes": "yes", "accept-new": "accept-new"}.get(
            value, "no"
        )
    if "userknownhostsfile" in options:
        data["ssh_known_hosts_file"] = options["userknownhostsfile"]
    unsupported = sorted(
        set(options)
        - {
            "stricthostkeychecking",
            "userknownhostsfile",
            "controlmaster",
            "controlpath",
            "controlpersist",
            "batchmode",
            "connecttimeout",
            "loglevel",
        }
    )
    if unsupported:
        raise ColotuneError(
            f"host {conn.name}: ansible_ssh_common_args option(s) {', '.join(unsupported)} "
            "cannot be passed to pyinfra's SSH connector (supported: StrictHostKeyChecking, "
            "UserKnownHostsFile; multiplexing, BatchMode, ConnectTimeout and LogLevel are "
            "ignored)"
        )
    data["_python"] = conn.python
    data["_become"] = conn.become
    return data


def collect_all(
    hosts: dict[str, dict[str, Any]],
    *,
    args: dict[str, list[str]],
    timeout: float,
    workers: int = 32,
    on_done: Callable[[Outcome], None] | None = None,
) -> dict[str, Outcome]:
    """Collect a snapshot from every host (name -> host_vars) in parallel, within `timeout` each.

    `args` are the collector options per host name.
    """
    from pyinfra.api.command import StringCommand
    from pyinfra.api.config import Config
    from pyinfra.api.inventory import Inventory
    from pyinfra.api.state import State

    datas = {name: pyinfra_data(host_vars, timeout=timeout) for name, host_vars in hosts.items()}
    pythons = {name: data.pop("_python") for name, data in datas.items()}
    become = {name: data.pop("_become") for name, data in datas.items()}
    inventory = Inventory(([(name, data) for name, data in datas.items()], {}))  # type: ignore[no-untyped-call]
    # The State attaches itself to every host of the inventory (host.init(state)).
    State(inventory, Config(CONNECT_TIMEOUT=max(1, int(timeout))))  # type: ignore[no-untyped-call]
    script = collector_script()
    results: dict[str, Outcome] = {}
    lock = threading.Lock()

    def one(name: str) -> Outcome:
        host = inventory.get_host(name)
        started = time.monotonic()
        try:
            host.connect(raise_exceptions=True, show_errors=False)
        except Exception as exc:  # pyinfra raises ConnectError and friends
            return Outcome(name, None, f"unreachable ({exc})", time.monotonic() - started)
        left = max(1.0, timeout - (time.monotonic() - started))
        command = stdin_command(args.get(name, []), python=pythons[name])
        try:
            # ansible_become: pyinfra's sudo (non-interactive; a password prompt fails).
            ok, output = host.run_shell_command(
                StringCommand(command), _stdin=script, _timeout=left, _sudo=become[name]
            )
            stdout, stderr = output.stdout, output.stderr
            rc: int | None = 0 if ok else 1
        except Exception as exc:  # a timeout surfaces as an exception from pyinfra
            return Outcome(
                name, None, f"no snapshot within {timeout:g} s ({exc})", time.monotonic() - started
            )
        finally:
            with contextlib.suppress(Exception):  # a failed disconnect changes no result
                host.disconnect()
        try:
            raw = remote.decode(name, stdout, stderr, rc)
        except remote.CollectError as exc:
            return Outcome(
                name, None, str(exc).removeprefix(f"{name}: "), time.monotonic() - started
            )
        return Outcome(name, raw, None, time.monotonic() - started)

    # pyinfra logs every accepted host key and connection at WARNING/INFO; the audit reports
    # per host itself.
    pyinfra_log = logging.getLogger("pyinfra")
    level = pyinfra_log.level
    pyinfra_log.setLevel(logging.CRITICAL)
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=max(1, min(workers, len(hosts))))
    try:
        futures = {pool.submit(one, name): name for name in hosts}
        deadline = time.monotonic() + timeout + 5
        pending = set(futures)
        while pending:
            done, pending = concurrent.futures.wait(
                pending,
                timeout=max(0.0, deadline - time.monotonic()),
                return_when=concurrent.futures.FIRST_COMPLETED,
            )
            if not done:
                break
            for future in done:
                name = futures[future]
                try:
                    outcome = future.result()
                except Exception as exc:  # a bug in one host's path must not sink the others
                    outcome = Outcome(name, None, f"collector error ({exc})", 0.0)
                with lock:
                    results[name] = outcome
                if on_done:
                    on_done(outcome)
        for future in pending:
            name = futures[future]
            outcome = Outcome(name, None, f"no snapshot within {timeout:g} s (timed out)", timeout)
            results[name] = outcome
            if on_done:
                on_done(outcome)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
        pyinfra_log.setLevel(level)
    return results
