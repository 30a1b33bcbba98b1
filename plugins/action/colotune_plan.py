"""Action colotune_plan: the host's plan, computed on the controller from its real topology.

Reads the host's topology with one python3 call on the host (standard library
only), builds the profile from the host's variables exactly as the play sees
them, and sets these facts:

  colotune_plan     the plan (the same JSON as `colotune plan --json`)
  colotune_guard    market hours: {trading, forced, allowed: [risk classes], reason}
  colotune_tuning   the runtime state colotune-tune keeps (for roles/tuning)
  colotune_host     {kernel_release, virtualization, plan_keys, collector_command}

The variable `colotune_now` (ISO 8601 with offset) pins the clock of the
market-hours guard: a test override, refused by the profile where
`colotune_environment` is production, and reported as a warning whenever used
(`colotune_guard.clock_override`).
An invalid profile or a plan that cannot be made fails the task before
anything changes, with colotune's own message.
"""

from __future__ import annotations

import json
from typing import Any

from ansible.plugins.action import ActionBase


class ActionModule(ActionBase):  # type: ignore[misc]
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset()

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        from colotune import bundle, plan, profile, tuning
        from colotune.audit import nic_args as audit_args
        from colotune.errors import ColotuneError
        from colotune.host import topology

        task_vars = task_vars or {}
        result: dict[str, Any] = super().run(tmp, task_vars)
        host = task_vars.get("inventory_hostname")
        python = self._templar.template(task_vars.get("ansible_python_interpreter", "python3"))
        if not isinstance(python, str) or "auto" in python:
            python = "/usr/bin/python3"
        done = self._low_level_execute_command(
            bundle.stdin_command(python=python),
            in_data=bundle.program("topology").encode(),
            sudoable=True,
        )
        if done["rc"] != 0:
            return {
                **result,
                "failed": True,
                "msg": f"reading the topology failed: " f"{done.get('stderr', '')[-2000:]}",
            }
        try:
            snapshot = json.loads(done["stdout"])
            topo = topology.from_snapshot(snapshot, source=str(host))
            variables = {
                key: self._templar.template(value)
                for key, value in profile.profile_variables(task_vars).items()
            }
            prof = profile.build(variables, host=host)
            made = plan.make_plan(topo, prof, host=host)
            guard = tuning.guard(prof)
        except (ColotuneError, topology.TopologyError, ValueError) as exc:
            return {**result, "failed": True, "msg": str(exc)}
        result["ansible_facts"] = {
            "colotune_plan": made.model_dump(mode="json"),
            "colotune_guard": guard,
            "colotune_tuning": tuning.desired_state(made, prof),
            "colotune_host": {
                "kernel_release": topo.kernel_release,
                "virtualization": topo.virtualization,
                "plan_keys": list(plan.PLAN_ARGUMENTS),
                # the audit's collector, as playbooks/reboot.yml runs it after a boot
                "collector_command": bundle.stdin_command(audit_args(prof), python=python),
            },
        }
        if guard["clock_override"]:
            result["warnings"] = [f"{host}: TEST CLOCK: {guard['clock_override']}"]
        result["changed"] = False
        result["msg"] = made.explanations
        return result
