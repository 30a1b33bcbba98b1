"""Action colotune_tune: bring the live kernel to the desired runtime state (roles/tuning).

Runs colotune's tuning engine on the host as one program sent over the connection
(colotune.bundle, the same way the plan and the audit reach a host; nothing of
colotune is installed for it): it compares the running kernel with the desired
state and changes what differs, in the risk classes allowed now. Check mode lists
the changes; diff shows them.

Arguments:
  desired   the desired state (fact colotune_tuning)           required
  allow     risk classes that may change now (colotune_guard.allowed)
            default [live, disruptive]
  scope     all, or only the trading NIC's IRQs and coalescing (nic); default all

Returns changed, changes, refused, not_applicable (one line each) and diff; fails
with the engine's message when the desired state does not fit the host (nothing
changed) or a setting could not be applied.
"""

from __future__ import annotations

import json
from typing import Any

from ansible.plugins.action import ActionBase

SCOPES = ("all", "nic")
RISKS = ("live", "disruptive", "reboot")  # colotune.checks.base.Risk


class ActionModule(ActionBase):  # type: ignore[misc]
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset({"desired", "allow", "scope"})

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        from colotune import bundle

        task_vars = task_vars or {}
        result: dict[str, Any] = super().run(tmp, task_vars)
        args = self._task.args
        desired, allow = args.get("desired"), args.get("allow", ["live", "disruptive"])
        scope = args.get("scope", "all")
        problems = []
        if not isinstance(desired, dict):
            problems.append(f"desired must be the desired state (a dict), not {desired!r}")
        if not isinstance(allow, list) or not set(allow) <= set(RISKS):
            problems.append(f"allow must be a list of {', '.join(RISKS)}, not {allow!r}")
        if scope not in SCOPES:
            problems.append(f"scope must be one of {', '.join(SCOPES)}, not {scope!r}")
        if problems:
            return {**result, "failed": True, "msg": "colotune_tune: " + "; ".join(problems)}
        python = self._templar.template(task_vars.get("ansible_python_interpreter", "python3"))
        if not isinstance(python, str) or "auto" in python:
            python = "/usr/bin/python3"
        params = {
            "desired": desired,
            "allow": allow,
            "scope": scope,
            "check_mode": bool(self._play_context.check_mode),
        }
        done = self._low_level_execute_command(
            bundle.stdin_command(python=python),
            in_data=bundle.tune_module_program(params).encode(),
            sudoable=True,
        )
        try:
            answer = json.loads(done.get("stdout", ""))
        except ValueError:
            answer = None
        if done["rc"] != 0 or not isinstance(answer, dict):
            detail = (done.get("stderr") or done.get("stdout") or "").strip()[-2000:]
            return {
                **result,
                "failed": True,
                "msg": f"colotune_tune: the tuning engine failed on the host (exit "
                f"{done['rc']}): {detail}",
            }
        return {**result, **answer}
