"""Filters of roles/ptp; the decisions live in colotune.ptp.role (tested there)."""

from __future__ import annotations

from typing import Any


def colotune_ptp_settings(ethtool_t: str, **kwargs: Any) -> dict[str, Any]:
    """colotune.ptp.role.settings(ethtool_t=..., ...): what the role writes for one interface."""
    try:
        from colotune.ptp import role
    except ImportError as exc:  # the controller runs ansible-playbook outside colotune's venv
        raise ValueError(
            "roles/ptp needs the colotune package on the controller: run ansible-playbook "
            f"from colotune's virtualenv (.venv/bin/ansible-playbook) ({exc})"
        ) from exc
    return role.settings(ethtool_t=ethtool_t, **kwargs)


class FilterModule:
    """roles/ptp filters."""

    def filters(self) -> dict[str, Any]:
        return {"colotune_ptp_settings": colotune_ptp_settings}
