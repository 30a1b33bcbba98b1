"""`colotune plan`: show the placement of a host, explained, or as the JSON contract."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from colotune import inventory, profile, yamlinput
from colotune.commands.inventory import add_inventory_options
from colotune.errors import ColotuneError
from colotune.host import topology
from colotune.plan import Plan, make_plan


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "plan",
        help="place a host: isolated/housekeeping/IRQ CPUs, hugepages, kernel args, threads",
        description="Compute a host's plan from its topology and its profile. The profile "
        "comes from the inventory (-l HOST) or from a YAML file (--profile); -e overrides "
        "single variables.",
    )
    add_inventory_options(parser, limit_required=False)
    parser.add_argument(
        "--profile", type=Path, help="YAML file of colotune variables, instead of an inventory"
    )
    parser.add_argument(
        "-e",
        "--extra-var",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="set one variable (YAML value), above inventory and profile file",
    )
    parser.add_argument(
        "--sysfs-root",
        default=None,
        help="the host's topology: a sysfs root directory or a `topology record` tarball "
        "(default: with -l, the live host read over SSH; otherwise this machine, /)",
    )
    parser.add_argument("--json", action="store_true", help="print the plan as JSON")
    parser.set_defaults(func=_plan)


def _extra_vars(pairs: list[str]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ColotuneError(f"-e {pair!r}: expected KEY=VALUE, e.g. -e tuning_nic=eth0")
        result[key] = yamlinput.load(value, f"-e {key}") if value else ""
    return result


def _profile_source(
    args: argparse.Namespace,
) -> tuple[str | None, dict[str, Any]]:
    """The host name and its variables, from a profile file or the inventory."""
    if args.profile is not None:
        if args.limit:
            raise ColotuneError("give either --profile FILE or -l HOST, not both")
        data = yamlinput.load_file(args.profile, "--profile") or {}
        if not isinstance(data, dict):
            raise ColotuneError(f"--profile {args.profile}: expected a mapping of variables")
        return None, data
    if args.limit:
        hosts = inventory.host_variables(
            args.inventory or inventory.default_inventory(), args.limit
        )
        if len(hosts) != 1:
            raise ColotuneError(
                f"-l {args.limit} selects {len(hosts)} hosts ({', '.join(hosts)}); "
                "plan one host at a time"
            )
        return next(iter(hosts.items()))
    if args.extra_var:
        return None, {}
    raise ColotuneError(
        "no profile: give -l HOST (from the inventory), --profile FILE.yml, or -e tuning_nic=NIC"
    )


def _plan(args: argparse.Namespace) -> int:
    host, variables = _profile_source(args)
    extra = _extra_vars(args.extra_var)
    # A profile file and -e hold nothing but colotune variables: any unknown name is a typo.
    strict = {*extra, *(variables if args.profile is not None else ())}
    prof = profile.build({**variables, **extra}, host=host, strict_names=strict)
    if args.sysfs_root is None and host is not None and args.limit:
        from colotune.facts import live_topology

        root = f"ssh://{host}"
        topo = live_topology(variables)
    else:
        root = args.sysfs_root or "/"
        topo = topology.load(root)
    plan = make_plan(topo, prof, host=host)
    if args.json:
        print(json.dumps(plan.model_dump(mode="json"), indent=2))
    else:
        print(render(plan, topo, source=root))
    return 0


def render(plan: Plan, topo: topology.Topology, *, source: str) -> str:
    """The plan as a table for people, then one line of explanation per decision."""
    nic = plan.nic
    nic_text = (
        f"NIC {nic.name}, {nic.driver or 'driver ?'}, {nic.pci_address or 'no PCI address'}"
        if nic.name
        else "no NIC named"
    )
    pages = ", ".join(f"node {n}: {sizes['1G']}" for n, sizes in plan.hugepages.items())
    rows = [
        ("trading node", f"{plan.numa_node} ({nic_text})"),
        ("isolated CPUs", f"{plan.isolated_cpus}  (isolcpus, nohz_full, rcu_nocbs)"),
        ("idle CPUs", plan.idle_cpus or "none"),
        ("housekeeping CPUs", plan.housekeeping_cpus),
        ("IRQ CPUs", plan.irq_cpus),
        ("1G hugepages", pages + ("  (allocated at runtime)" if plan.hugepages_runtime else "")),
        ("threads", ", ".join(f"{t} -> CPU {c}" for t, c in plan.threads.items()) or "none"),
        ("kernel arguments", plan.kernel_args[0]),
        *(("", arg) for arg in plan.kernel_args[1:]),
    ]
    title = (
        f"Plan for {plan.host or 'this profile'}: {len(topo.online_cpus)} online CPUs, "
        f"{len(topo.nodes)} NUMA node(s), kernel {topo.kernel_release or '?'} ({source})"
    )
    lines = [title, *(f"  {label:<18} {value}" for label, value in rows), "Why:"]
    lines += [f"  - {why}" for why in plan.explanations]
    return "\n".join(lines)
