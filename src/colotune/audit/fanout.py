"""Run the collector on many hosts at once over SSH, with pyinfra's SSH connector.

Connection settings come from the Ansible inventory (ansible_host,
ansible_port, ansible_user, ansible_ssh_private_key_file and the `-o`
options of ansible_ssh_common_args), mapped onto pyinfra's host data.

pyinfra's own parallelism is gevent greenlets, which only run in parallel
once the whole process is monkey-patched (`gevent.monkey.patch_all()` before
anything else imports socket or ssl), as pyinfra's CLI does at start-up.
`colotune` is a general CLI that imports ansible-core first, so patching
there is neither early nor safe; instead each host's pyinfra connect + command
runs in a worker thread (paramiko is thread-safe per connection). pyinfra's
own command timeout waits on gevent, which never wakes while an unpatched
thread blocks in paramiko, so the deadline is kept here: every host has
`timeout` seconds (plus the collector's measuring window) from the moment a
worker starts on it, connect and command together. A host past it is reported
with the seconds, its SSH client closed (which ends the command for this side)
and its worker replaced; workers are daemon threads, so a host that never
answers costs its timeout and never keeps the process alive after the report.
"""

from __future__ import annotations

import contextlib
import logging
import queue
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


def _close(host: Any) -> None:
    """Close a host's SSH client (pyinfra's disconnect leaves it open): a command still
    running there ends for this side, and the thread reading it returns."""
    client = getattr(host.connector, "client", None)
    if client is not None:
        with contextlib.suppress(Exception):  # closing a half-open client changes no result
            client.close()


def _unreachable(exc: BaseException) -> str:
    """Why a connection failed, in the socket's words where one is known
    ("connection refused"), else as pyinfra says it."""
    seen: BaseException | None = exc
    while seen is not None:
        errors = getattr(seen, "errors", None)  # paramiko's NoValidConnectionsError
        if isinstance(errors, dict) and errors:
            reasons = sorted(
                {f"{addr[0]}:{addr[1]}: {_reason(err)}" for addr, err in errors.items()}
            )
            return f"unreachable ({'; '.join(reasons)})"
        if isinstance(seen, OSError) and seen.strerror:
            return f"unreachable ({_reason(seen)})"
        seen = seen.__cause__ or seen.__context__
    return f"unreachable ({exc})"


def _reason(err: BaseException) -> str:
    if isinstance(err, TimeoutError):
        return "connect timed out"
    text = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
    return text[:1].lower() + text[1:]


def collect_all(
    hosts: dict[str, dict[str, Any]],
    *,
    args: dict[str, list[str]],
    timeout: float,
    window: float = 0.0,
    workers: int = 32,
    on_done: Callable[[Outcome], None] | None = None,
) -> dict[str, Outcome]:
    """Collect a snapshot from every host (name -> host_vars) in parallel.

    `args` are the collector options per host name. Each host has `timeout` seconds
    from the moment a worker starts on it (connect and run), plus `window`, the
    seconds the collector spends measuring (--irq-window, --ptp-window). A host
    past its deadline is reported, its connection closed, and its worker replaced,
    so the hosts queued behind it still get their full time.
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
    limit = timeout + max(0.0, window)
    phase: dict[str, str] = {}  # host -> "connect" or "run", written by its worker

    def one(name: str, started: float) -> Outcome:
        host = inventory.get_host(name)
        phase[name] = "connect"
        try:
            host.connect(raise_exceptions=True, show_errors=False)
        except Exception as exc:  # pyinfra raises ConnectError and friends
            return Outcome(name, None, _unreachable(exc), time.monotonic() - started)
        phase[name] = "run"
        command = stdin_command(args.get(name, []), python=pythons[name])
        try:
            # ansible_become: pyinfra's sudo (non-interactive; a password prompt fails).
            ok, output = host.run_shell_command(
                StringCommand(command), _stdin=script, _sudo=become[name]
            )
            stdout, stderr = output.stdout, output.stderr
            rc: int | None = 0 if ok else 1
        except Exception as exc:  # a connection lost mid-command
            return Outcome(
                name, None, f"no snapshot ({exc or type(exc).__name__})", time.monotonic() - started
            )
        finally:
            with contextlib.suppress(Exception):  # a failed disconnect changes no result
                host.disconnect()
            _close(host)
        try:
            raw = remote.decode(name, stdout, stderr, rc)
        except remote.CollectError as exc:
            return Outcome(
                name, None, str(exc).removeprefix(f"{name}: "), time.monotonic() - started
            )
        return Outcome(name, raw, None, time.monotonic() - started)

    jobs: queue.SimpleQueue[str] = queue.SimpleQueue()
    for name in hosts:
        jobs.put(name)
    # (worker, host, start time, outcome or None while it runs)
    events: queue.SimpleQueue[tuple[int, str, float, Outcome | None]] = queue.SimpleQueue()
    retired: set[int] = set()  # workers left behind on a host past its deadline

    def work(worker: int) -> None:
        while worker not in retired:
            try:
                name = jobs.get_nowait()
            except queue.Empty:
                return
            started = time.monotonic()
            events.put((worker, name, started, None))
            try:
                outcome = one(name, started)
            except Exception as exc:  # a bug in one host's path must not sink the others
                outcome = Outcome(
                    name, None, f"collector error ({exc})", time.monotonic() - started
                )
            events.put((worker, name, started, outcome))

    count = 0

    def spawn() -> None:
        nonlocal count
        count += 1
        # Daemon threads: a worker stuck on a host that never answers cannot keep the
        # process alive once the report is out.
        threading.Thread(target=work, args=(count,), name=f"audit-{count}", daemon=True).start()

    # pyinfra logs every accepted host key and connection at WARNING/INFO; the audit reports
    # per host itself.
    pyinfra_log = logging.getLogger("pyinfra")
    level = pyinfra_log.level
    pyinfra_log.setLevel(logging.CRITICAL)
    results: dict[str, Outcome] = {}
    running: dict[str, tuple[int, float]] = {}  # host -> (worker, start time)

    def finish(outcome: Outcome) -> None:
        running.pop(outcome.host, None)
        results[outcome.host] = outcome
        if on_done:
            on_done(outcome)

    try:
        for _ in range(max(1, min(workers, len(hosts)))):
            spawn()
        while len(results) < len(hosts):
            now = time.monotonic()
            for name, (worker, started) in list(running.items()):
                if now - started < limit:
                    continue
                retired.add(worker)
                threading.Thread(
                    target=_close, args=(inventory.get_host(name),), daemon=True
                ).start()
                late = (
                    f"unreachable (no SSH session within {limit:g} s)"
                    if phase.get(name) == "connect"
                    else f"no snapshot within {limit:g} s (timed out)"
                )
                finish(Outcome(name, None, late, now - started))
                spawn()
            next_deadline = min((s + limit for _, s in running.values()), default=now + 1.0)
            try:
                worker, name, started, outcome = events.get(
                    timeout=max(0.0, min(next_deadline - time.monotonic(), 1.0))
                )
            except queue.Empty:
                continue
            if name in results:
                continue  # already reported past its deadline
            if outcome is None:
                running[name] = (worker, started)
            else:
                finish(outcome)
    finally:
        pyinfra_log.setLevel(level)
    return results
