"""`colotune inventory check`: validate the profile of every selected host."""

from __future__ import annotations

import argparse

from colotune import inventory


def add_inventory_options(parser: argparse.ArgumentParser, *, limit_required: bool) -> None:
    """-i and -l, as ansible-playbook spells them."""
    parser.add_argument(
        "-i",
        "--inventory",
        default=None,
        help="Ansible inventory file or directory (default: $ANSIBLE_INVENTORY or ./inventory)",
    )
    parser.add_argument(
        "-l",
        "--limit",
        required=limit_required,
        help="Ansible host pattern: a host, a group (ny4), or 'ny4:!ny4-trade02'",
    )


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("inventory", help="check the inventory's colotune variables")
    sub = parser.add_subparsers(dest="inventory_command", metavar="ACTION", required=True)
    check = sub.add_parser("check", help="validate the profile of every selected host")
    add_inventory_options(check, limit_required=False)
    check.set_defaults(func=_check)


def _check(args: argparse.Namespace) -> int:
    hosts = inventory.load_hosts(args.inventory or inventory.default_inventory(), args.limit)
    for host in hosts:
        target = host.profile.tuning_nic or f"node {host.profile.tuning_numa_node}"
        print(f"ok  {host.name}: trading on {target}")
    print(f"{len(hosts)} host(s) valid")
    return 0
