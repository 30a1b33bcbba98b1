"""`colotune probe ptp`: sample a ptp4l over a window and judge offset, path delay and state."""

from __future__ import annotations

import argparse
import json
import re
import shlex
from typing import Any

from colotune import inventory, profile
from colotune.commands.argtypes import MAX_SECONDS, nanoseconds, positive_seconds, whole_number
from colotune.commands.inventory import add_inventory_options
from colotune.errors import ColotuneError
from colotune.facts.remote import connection, ssh_run
from colotune.ptp import pmc, probe, window

EXIT_OK = 0
EXIT_FAIL = 2

_DURATION = re.compile(r"^(.*?)(ms|s|m)?$")


def duration(text: str) -> float:
    """ "30s", "2m", "500ms" or a number of seconds, as seconds (above 0, at most a day)."""
    match = _DURATION.match(text.strip())
    assert match  # the pattern matches any text
    scale = {"ms": 0.001, "m": 60.0}.get(match.group(2) or "s", 1.0)
    try:
        return positive_seconds(match.group(1), scale=scale)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a duration (valid: above 0 and at most {MAX_SECONDS:.0f} s, e.g. "
            "30s, 2m, 500ms, or seconds as a number)"
        ) from None


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("probe", help="measure a host over a window (ptp)")
    sub = parser.add_subparsers(dest="probe_command", metavar="PROBE", required=True)
    ptp = sub.add_parser(
        "ptp",
        help="offset and path delay distribution (P50, P99, max) and port-state changes",
        description="Sample ptp4l through pmc for a window and judge it: a client must stay "
        "SLAVE with a grandmaster and fresh Sync, with |offset| P99 and max within "
        "ptp_max_offset_ns; a grandmaster must stay MASTER. Exit 0: go; 2: no-go or bad input.",
    )
    add_inventory_options(ptp, limit_required=False)
    ptp.add_argument("--window", type=duration, default=30.0, help="how long (default 30s)")
    ptp.add_argument(
        "--interval", type=duration, default=0.25, help="time between samples (default 250ms)"
    )
    ptp.add_argument(
        "--local", action="store_true", help="probe a ptp4l on this machine (needs --uds)"
    )
    ptp.add_argument(
        "--uds", help="ptp4l's UDS socket (default: /run/ptp4l-<ptp_interface or tuning_nic>)"
    )
    ptp.add_argument(
        "--domain", type=whole_number(0, 255), help="PTP domain (default: the host's ptp_domain)"
    )
    ptp.add_argument("--role", choices=["client", "grandmaster"], help="default: ptp_role")
    ptp.add_argument(
        "--max-offset-ns",
        type=nanoseconds,
        help="offset limit (default: the host's ptp_max_offset_ns)",
    )
    ptp.add_argument("--json", action="store_true", help="print the result as JSON")
    ptp.set_defaults(func=_probe_ptp)


def _target(args: argparse.Namespace) -> tuple[str, dict[str, Any] | None, profile.PtpProfile]:
    """The host name, its variables (None for --local) and its PTP profile."""
    if args.local:
        if args.limit:
            raise ColotuneError("give either --local (a ptp4l here) or -l HOST, not both")
        if not args.uds:
            raise ColotuneError("--local needs --uds PATH (the ptp4l's uds_address)")
        return "local", None, profile.PtpProfile()
    if not args.limit:
        raise ColotuneError("name the host: -l HOST (or --local --uds PATH for a ptp4l here)")
    hosts = inventory.load_hosts(args.inventory or inventory.default_inventory(), args.limit)
    if len(hosts) != 1:
        names = ", ".join(h.name for h in hosts)
        raise ColotuneError(f"-l {args.limit} selects {len(hosts)} hosts ({names}); probe one")
    host = hosts[0]
    return host.name, host.vars, host.profile


def _probe_ptp(args: argparse.Namespace) -> int:
    name, host_vars, prof = _target(args)
    domain = args.domain if args.domain is not None else prof.ptp_domain
    role: window.Role = args.role or prof.ptp_role
    limit = float(args.max_offset_ns if args.max_offset_ns is not None else prof.max_offset_ns)
    uds = args.uds
    if uds is None:
        interface = prof.ptp_nic if isinstance(prof, profile.HostProfile) else None
        if not interface:
            raise ColotuneError(
                f"host {name}: neither ptp_interface nor tuning_nic is set; give --uds PATH"
            )
        uds = pmc.uds_address(interface)
    if host_vars is None:
        samples = probe.sample_local(
            uds, domain=domain, window_s=args.window, interval_s=args.interval
        )
    else:
        samples = _sample_remote(host_vars, uds, domain, args.window, args.interval)
    summary = window.summarize(samples)
    findings = window.judge(summary, role=role, max_offset_ns=limit)
    if args.json:
        print(
            json.dumps(
                {
                    "host": name,
                    "uds": uds,
                    "domain": domain,
                    "role": role,
                    "max_offset_ns": limit,
                    "ok": not findings,
                    "summary": summary.to_dict(),
                    "findings": [{"code": f.code, "message": f.message} for f in findings],
                },
                indent=2,
            )
        )
    else:
        title = f"PTP probe of {name} ({uds}, domain {domain}, {role})"
        print(probe.render(summary, findings, title=title, max_offset_ns=limit))
    return EXIT_FAIL if findings else EXIT_OK


def _sample_remote(
    host_vars: dict[str, Any], uds: str, domain: int, window_s: float, interval_s: float
) -> list[dict[str, Any]]:
    conn = connection(host_vars)
    script = probe.remote_script(uds, domain=domain, window_s=window_s, interval_s=interval_s)
    timeout = window_s + 4 * interval_s + 30.0
    done = ssh_run(
        conn,
        f"sh -c {shlex.quote(script)}",
        timeout=timeout,
        connect_timeout=10.0,
        late="the probe did not finish",
    )
    if done.returncode == 255:
        detail = (done.stderr.strip().splitlines() or ["ssh failed"])[-1]
        raise ColotuneError(f"{conn.name}: unreachable over SSH ({detail})")
    samples = probe.samples_from_stream(done.stdout)
    if not samples:
        raise ColotuneError(f"{conn.name}: the probe printed no samples ({done.stderr.strip()})")
    return samples
