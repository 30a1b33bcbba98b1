"""`ethtool -T` judged for PTP, and per-driver ptp4l settings (fixtures README says where from)."""

from __future__ import annotations

from pathlib import Path

import pytest

from colotune.ptp import timestamping

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def _ts(path: str) -> timestamping.Timestamping:
    return timestamping.parse((FIXTURES / path).read_text())


def test_veth_has_software_timestamping_only() -> None:
    ts = _ts("ptp/ethtool-T-veth.txt")
    assert ts.interface == "ptpxa"
    assert ts.software and not ts.hardware
    assert ts.phc_device is None
    assert ts.missing_for_hardware == (
        "hardware-transmit",
        "hardware-receive",
        "hardware-raw-clock",
        "a PTP Hardware Clock",
        "a hardware receive filter (Hardware Receive Filter Modes: none)",
        "a hardware transmit mode",
    )
    refusal = timestamping.refusal(ts, interface="ptpxa", mode="hardware")
    assert refusal is not None
    assert "ptp_timestamping: software" in refusal and "hardware-transmit" in refusal
    assert timestamping.refusal(ts, interface="ptpxa", mode="software") is None


def test_virtio_nic_of_this_machine_is_refused_for_hardware() -> None:
    ts = _ts("facts/this-machine/ethtool-T-eth0.txt")
    assert not ts.hardware
    assert timestamping.refusal(ts, interface="eth0", mode="hardware") is not None


def test_nic_with_phc_and_hardware_timestamps() -> None:
    ts = _ts("facts/public/hwts-ethtool-T.txt")
    assert ts.hardware and ts.software
    assert ts.phc_index == 0 and ts.phc_device == "/dev/ptp0"
    assert ts.tx_modes == ("off", "on")
    assert timestamping.refusal(ts, interface="enp1s0", mode="hardware") is None
    assert ts.to_dict()["missing_for_hardware"] == []


def test_hardware_only_nic_cannot_do_software() -> None:
    ts = _ts("ptp/public/ethtool-T-timecard-no-software.txt")
    assert ts.hardware and not ts.software
    assert "onestep-sync" in ts.tx_modes
    assert timestamping.refusal(ts, interface="eth0", mode="software") is not None


@pytest.mark.parametrize(
    ("driver", "configured", "expected"),
    [("igb", None, 10), ("ice", None, 50), ("mlx5_core", None, 10), (None, None, 10),
     ("ice", 25, 25)],
)  # fmt: skip
def test_tx_timestamp_timeout(driver: str | None, configured: int | None, expected: int) -> None:
    assert timestamping.tx_timestamp_timeout_ms(driver, configured) == expected


def test_emulated_nic_with_phc_but_no_receive_filter_is_refused() -> None:
    # What a lab VM's e1000e/igb reports (LAB-NOTES): capabilities and a PHC, no RX filter.
    text = (
        "Time stamping parameters for ens1:\nCapabilities:\n\thardware-transmit\n"
        "\tsoftware-transmit\n\thardware-receive\n\tsoftware-receive\n"
        "\tsoftware-system-clock\n\thardware-raw-clock\nPTP Hardware Clock: 0\n"
        "Hardware Transmit Timestamp Modes:\n\toff\n\ton\n"
        "Hardware Receive Filter Modes: none\n"
    )
    ts = timestamping.parse(text)
    assert not ts.hardware
    assert ts.missing_for_hardware == (
        "a hardware receive filter (Hardware Receive Filter Modes: none)",
    )
