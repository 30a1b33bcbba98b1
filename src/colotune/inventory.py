"""Hosts and their variables, read from an Ansible inventory exactly as Ansible merges them.

ansible-core's own InventoryManager and VariableManager do the merging
(inventory files, group_vars/, host_vars/, group precedence), and its Templar
renders Jinja in the values, so `colotune` sees what a play would see before
role defaults. There is no second inventory format.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from colotune import profile, yamlinput
from colotune.errors import ColotuneError

DEFAULT_INVENTORY = "inventory"


@dataclass(frozen=True)
class InventoryHost:
    name: str
    vars: dict[str, Any]  # every variable Ansible merged for the host (connection vars too)
    profile: profile.HostProfile


def default_inventory() -> str:
    """`-i` when none is given: $ANSIBLE_INVENTORY, else ./inventory."""
    return os.environ.get("ANSIBLE_INVENTORY", DEFAULT_INVENTORY)


def host_variables(inventory: str, limit: str | None) -> dict[str, dict[str, Any]]:
    """Variables per host for the hosts `limit` selects (an Ansible host pattern)."""
    source = Path(inventory)
    if not source.exists():
        raise ColotuneError(
            f"inventory {inventory!r} does not exist (give -i with an inventory file or "
            "directory, e.g. -i inventory)"
        )
    # Imported here: ansible-core takes a moment to import and only this needs it.
    from ansible.errors import AnsibleError
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader
    from ansible.template import Templar
    from ansible.vars.manager import VariableManager

    loader = DataLoader()
    try:
        manager = InventoryManager(loader=loader, sources=[str(source)])
        variables = VariableManager(loader=loader, inventory=manager)
        pattern = limit or "all"
        hosts = manager.list_hosts(pattern)
    except AnsibleError as exc:
        raise ColotuneError(f"inventory {inventory}: {exc}") from exc
    if not hosts:
        known = sorted(h.name for h in manager.list_hosts("all"))
        groups = sorted(g for g in manager.groups if g not in ("all", "ungrouped"))
        raise ColotuneError(
            f"no host in inventory {inventory} matches {pattern!r} "
            f"(hosts: {', '.join(known) or 'none'}; groups: {', '.join(groups) or 'none'})"
        )
    result: dict[str, dict[str, Any]] = {}
    for host in hosts:
        try:
            merged = variables.get_vars(host=host, include_hostvars=False)
        except AnsibleError as exc:  # a group_vars/host_vars file that is not YAML
            message = " ".join(str(exc).split())[:500]
            raise ColotuneError(f"inventory {inventory}: host {host.name}: {message}") from None
        templar = Templar(loader=loader, variables=merged)
        host_vars: dict[str, Any] = {}
        for key, value in merged.items():
            if key.startswith(profile.PREFIXES) or key.startswith("ansible_"):
                yamlinput.check_size(value, f"inventory {inventory}: host {host.name}: {key}")
                try:
                    host_vars[key] = _plain(templar.template(value))
                except AnsibleError as exc:
                    raise ColotuneError(f"host {host.name}: {key}: {exc}") from exc
        host_vars.setdefault("inventory_hostname", host.name)
        result[host.name] = host_vars
    return result


def _plain(value: Any) -> Any:
    """Ansible's own str/dict/list subclasses, as plain Python values."""
    if isinstance(value, dict):
        return {_plain(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, str):
        return str(value)
    return value


def load_hosts(inventory: str, limit: str | None) -> list[InventoryHost]:
    """The selected hosts with their validated profiles; every invalid host is reported."""
    problems: list[str] = []
    hosts: list[InventoryHost] = []
    for name, host_vars in host_variables(inventory, limit).items():
        try:
            hosts.append(InventoryHost(name, host_vars, profile.build(host_vars, host=name)))
        except profile.ProfileError as exc:
            problems.extend(str(e) for e in exc.errors)
    if problems:
        raise profile.ProfileError.from_lines(problems)
    return hosts
