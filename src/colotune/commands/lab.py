"""`colotune lab up|down|status|ssh|reset|console`: Debian VMs under qemu as lab hosts."""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import asdict

from colotune.lab import presets
from colotune.lab.runner import Lab


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("lab", help="lab hosts: Debian VMs under qemu (see docs/lab.md)")
    sub = parser.add_subparsers(dest="lab_command", metavar="ACTION", required=True)

    up = sub.add_parser("up", help="start lab1..labN, wait for SSH, write inventory/lab.yml")
    up.add_argument("--hosts", type=int, default=1, help="number of VMs (default: 1)")
    up.add_argument(
        "--topology",
        default=presets.DEFAULT_PRESET,
        help=f"preset: {', '.join(presets.PRESETS)} (default: {presets.DEFAULT_PRESET})",
    )
    up.set_defaults(func=_up)

    down = sub.add_parser("down", help="stop every lab VM, remove overlays and inventory/lab.yml")
    down.set_defaults(func=_down)

    status = sub.add_parser("status", help="list lab VMs: running, PID, SSH port, memory")
    status.add_argument("--json", action="store_true", help="print JSON")
    status.set_defaults(func=_status)

    ssh = sub.add_parser("ssh", help="SSH into a lab VM (interactive, or run CMD)")
    ssh.add_argument("host", help="lab1, lab2, ...")
    ssh.add_argument("cmd", nargs=argparse.REMAINDER, help="command to run")
    ssh.set_defaults(func=_ssh)

    reset = sub.add_parser("reset", help="put a lab VM back on the pristine image and boot it")
    reset.add_argument("host")
    reset.set_defaults(func=_reset)

    console = sub.add_parser("console", help="print a lab VM's serial console log")
    console.add_argument("host")
    console.set_defaults(func=_console)


def _up(args: argparse.Namespace) -> int:
    lab = Lab()
    lab.up(count=args.hosts, preset_name=args.topology)
    print(f"lab: {args.hosts} host(s) up; inventory {lab.inventory}")
    for st in lab.status():
        print(f"  {st.name}: ssh -p {st.ssh_port} root@127.0.0.1, trading NIC {st.tuning_nic}")
    return 0


def _down(args: argparse.Namespace) -> int:
    stopped = Lab().down()
    print(f"lab: stopped {', '.join(stopped) if stopped else 'nothing (no VM was running)'}")
    return 0


def _status(args: argparse.Namespace) -> int:
    rows = Lab().status()
    if args.json:
        print(json.dumps([asdict(r) for r in rows], indent=2))
        return 0
    if not rows:
        print("lab: no hosts (run `colotune lab up`)")
        return 0
    print(f"{'host':<6} {'preset':<8} {'state':<8} {'pid':>7} {'ssh':>6} {'rss MiB':>8}  nic")
    for r in rows:
        rss = f"{r.rss_mib:.0f}" if r.rss_mib is not None else "-"
        print(
            f"{r.name:<6} {r.preset:<8} {'running' if r.running else 'stopped':<8} "
            f"{r.pid or '-':>7} {r.ssh_port:>6} {rss:>8}  {r.tuning_nic or '-'}"
        )
    return 0


def _ssh(args: argparse.Namespace) -> int:
    lab = Lab()
    cmd = " ".join(args.cmd) if args.cmd else None
    argv = lab.ssh_argv(args.host, cmd)
    if cmd is None:
        argv.insert(1, "-t")
    sys.stdout.flush()
    os.execvp(argv[0], argv)


def _reset(args: argparse.Namespace) -> int:
    seconds = Lab().reset(args.host)
    print(f"lab: {args.host} back on the pristine image, SSH up after {seconds:.0f} s")
    return 0


def _console(args: argparse.Namespace) -> int:
    path = Lab().console(args.host)
    try:
        sys.stdout.write(path.read_text(errors="replace"))
    except FileNotFoundError:
        print(f"lab: {args.host} has no serial log yet ({path})", file=sys.stderr)
        return 2
    return 0
