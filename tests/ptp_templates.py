"""roles/ptp's templates rendered by Ansible's own templar, for the unit and integration tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar

from colotune.ptp import role

REPO = Path(__file__).resolve().parents[1]
TEMPLATES = REPO / "roles" / "ptp" / "templates"
FIXTURES = REPO / "tests" / "fixtures"
HWTS = (FIXTURES / "facts" / "public" / "hwts-ethtool-T.txt").read_text()
VETH = (FIXTURES / "ptp" / "ethtool-T-veth.txt").read_text()


def render(name: str, **overrides: Any) -> str:
    inputs: dict[str, Any] = {
        "ptp_domain": 0,
        "ptp_transport": "UDPv4",
        "ptp_delay_mechanism": "E2E",
        "ptp_role": "client",
        "ptp_timestamping": "hardware",
        "ptp_summary_interval": 0,
        "ptp_logging_level": 6,
        "ansible_managed": "Ansible managed",
        "__ptp_interface": "eth1",
    }
    inputs.update(overrides)
    inputs["__ptp"] = role.settings(
        interface=inputs["__ptp_interface"],
        ethtool_t=inputs.pop("ethtool_t", HWTS),
        ethtool_i=inputs.pop("ethtool_i", "driver: igb\n"),
        ptp4l_version=inputs.pop("ptp4l_version", "3.1.1"),
        timestamping_mode=inputs["ptp_timestamping"],
        role=inputs["ptp_role"],
        domain=inputs["ptp_domain"],
    )
    templar = Templar(loader=DataLoader(), variables=inputs)
    return str(templar.template((TEMPLATES / f"{name}.j2").read_text()))
