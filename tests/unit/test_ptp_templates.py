"""roles/ptp's templates rendered by Ansible's own templar for the hardware and software paths.

The lab's emulated NICs cannot prove the hardware path (no hardware RX
timestamps), so it is proven here on a recorded `ethtool -T` of a NIC with a PHC.
"""

from __future__ import annotations

import pytest

from ptp_templates import TEMPLATES, VETH, render


def _options(text: str) -> dict[str, str]:
    result: dict[str, str] = {}
    for line in text.splitlines():
        if line and not line.startswith(("#", "[")):
            key, _, value = line.partition(" ")
            result[key] = value.strip()
    return result


def test_every_template_starts_with_ansible_managed() -> None:
    for path in TEMPLATES.glob("*.j2"):
        assert path.read_text().startswith("{{ ansible_managed | comment }}"), path.name


def test_hardware_client_config() -> None:
    text = render("ptp4l.conf")
    options = _options(text)
    assert options["time_stamping"] == "hardware"
    assert options["slaveOnly"] == "1"
    assert options["tx_timestamp_timeout"] == "10"
    assert options["uds_address"] == "/run/ptp4l-eth1"
    assert "uds_ro_address" not in options  # linuxptp 3.x has no read-only socket
    assert text.rstrip().endswith("[eth1]")
    assert "PHC by ptp4l" in text and "CLOCK_REALTIME by phc2sys" in text


def test_grandmaster_on_linuxptp4_with_ice() -> None:
    options = _options(
        render("ptp4l.conf", ptp_role="grandmaster", ptp4l_version="4.2", ethtool_i="driver: ice")
    )
    assert options["clientOnly"] == "0"
    assert options["serverOnly"] == "1"
    assert options["tx_timestamp_timeout"] == "50"
    assert options["uds_ro_address"] == "/run/ptp4lro-eth1"


@pytest.mark.parametrize(
    ("ptp_role", "expected"),
    [
        ("client", 'PHC2SYS_OPTS="-s eth1 -c CLOCK_REALTIME -w -z /run/ptp4l-eth1 -n 0 -l 6"'),
        ("grandmaster", 'PHC2SYS_OPTS="-s CLOCK_REALTIME -c eth1 -w -z /run/ptp4l-eth1 -n 0 -l 6"'),
    ],
)
def test_phc2sys_direction(ptp_role: str, expected: str) -> None:
    assert expected in render("phc2sys.env", ptp_role=ptp_role).splitlines()


def test_software_client_config() -> None:
    options = _options(render("ptp4l.conf", ptp_timestamping="software", ethtool_t=VETH))
    assert options["time_stamping"] == "software"
    assert options["network_transport"] == "UDPv4"


def test_units_are_per_interface_instances() -> None:
    ptp4l = render("ptp4l@.service")
    assert "ExecStart=/usr/sbin/ptp4l -f /etc/linuxptp/ptp4l-%i.conf" in ptp4l
    phc2sys = render("phc2sys@.service")
    assert "Requires=ptp4l@%i.service" in phc2sys
    assert "EnvironmentFile=/etc/linuxptp/phc2sys-%i.env" in phc2sys
