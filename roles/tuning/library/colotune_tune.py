#!/usr/bin/python
"""Ansible module colotune_tune: bring the live kernel to the desired runtime state.

A thin wrapper: the comparison and the writes are colotune.tune's (shipped as
module_utils), the same code colotune-tune runs at boot and on link-up.
"""

from __future__ import annotations

DOCUMENTATION = r"""
module: colotune_tune
short_description: Apply colotune's runtime tuning (governor, THP, sysctls, IRQs, coalescing)
description:
  - Compares the running kernel with the desired state rendered from the plan and changes
    what differs, in the risk classes allowed now. Check mode lists the changes; diff shows them.
options:
  desired:
    description: The desired state (fact colotune_tuning).
    type: dict
    required: true
  allow:
    description: Risk classes that may change now (fact colotune_guard.allowed).
    type: list
    elements: str
    default: [live, disruptive]
  scope:
    description: all, or only the trading NIC's IRQs and coalescing (nic).
    type: str
    choices: [all, nic]
    default: all
"""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.colotune_tune import Host, UnfitError, apply, changes


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "desired": {"type": "dict", "required": True},
            "allow": {"type": "list", "elements": "str", "default": ["live", "disruptive"]},
            "scope": {"type": "str", "choices": ["all", "nic"], "default": "all"},
        },
        supports_check_mode=True,
    )
    allow = set(module.params["allow"])
    try:
        found = changes(Host(), module.params["desired"], scope=module.params["scope"])
    except UnfitError as exc:  # before anything changed
        module.fail_json(msg=f"{exc}; nothing changed")
    if module.check_mode:
        for change in found:
            if change.status == "pending" and change.risk not in allow:
                change.status = "refused"
                change.detail = f"{change.risk} change refused in market hours"
    else:
        apply(Host(), found, allow=allow)
    would = [c for c in found if c.status in ("pending", "done")]
    result = {
        "changed": bool(would),
        "changes": [c.line() for c in found],
        "refused": [c.line() for c in found if c.status == "refused"],
        "not_applicable": [c.line() for c in found if c.status == "not_applicable"],
        "diff": {
            "before": "".join(f"{c.control} {c.target} = {c.before}\n" for c in would),
            "after": "".join(f"{c.control} {c.target} = {c.after}\n" for c in would),
        },
    }
    failed = [c.line() for c in found if c.status == "failed"]
    if failed:
        module.fail_json(msg="some settings could not be applied: " + "; ".join(failed), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
