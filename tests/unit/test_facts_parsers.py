"""The collector's parsers against outputs recorded on real machines (tests/fixtures/facts/)."""

from __future__ import annotations

from pathlib import Path

import pytest

from colotune.host import parsers

FACTS = Path(__file__).resolve().parents[1] / "fixtures" / "facts"


def text(name: str) -> str:
    return (FACTS / name).read_text()


def test_coalesce_virtio_this_machine() -> None:
    values = parsers.parse_ethtool_coalesce(text("this-machine/ethtool-c-eth0.txt"))
    assert values["adaptive-rx"] is False
    assert values["adaptive-tx"] is None  # "TX: n/a"
    assert values["rx-usecs"] == 0
    assert values["rx-frames"] == 1
    assert values["rx-usecs-irq"] is None
    assert values["cqe-mode-rx"] is None


def test_coalesce_mellanox_adaptive_on() -> None:
    # Mellanox/sockperf issue 21: blank lines between every value, as posted.
    values = parsers.parse_ethtool_coalesce(text("public/mellanox-ethtool-c.txt"))
    assert values["adaptive-rx"] is True
    assert values["adaptive-tx"] is False
    assert values["rx-usecs"] == 16
    assert values["rx-frames"] == 88
    assert values["pkt-rate-high"] == 450000
    assert values["rx-usecs-high"] == 128


def test_coalesce_driver_without_adaptive_tabs() -> None:
    values = parsers.parse_ethtool_coalesce(text("public/tuned726-ethtool-c.txt"))
    assert values["adaptive-rx"] is None
    assert values["rx-usecs"] == 3
    assert values["tx-usecs"] == 3
    assert values["rx-frames"] is None


def test_coalesce_of_an_unsupported_device_is_empty() -> None:
    assert parsers.parse_ethtool_coalesce(text("this-machine/ethtool-c-lo.txt")) == {}


def test_rings_intel_e1000e() -> None:
    rings = parsers.parse_ethtool_rings(text("public/intel-e1000e-ethtool-g.txt"))
    assert rings["max"]["RX"] == 4096
    assert rings["max"]["TX"] == 4096
    assert rings["current"]["RX"] == 256
    assert rings["current"]["TX Push"] is False
    assert rings["current"]["RX Mini"] is None


def test_rings_virtio_this_machine() -> None:
    rings = parsers.parse_ethtool_rings(text("this-machine/ethtool-g-eth0.txt"))
    assert rings["max"]["RX"] == 256
    assert rings["current"]["TX"] == 256


def test_rings_without_headings() -> None:
    # ethtool 6.x on some drivers prints both blocks without their headings (systemd PR 41289).
    sample = (
        "Ring parameters for eth0:\nRX:\t\t\t8184\nTX:\t\t\t8184\nRX:\t\t\t2048\nTX:\t\t\t4096\n"
    )
    rings = parsers.parse_ethtool_rings(sample)
    assert rings["max"] == {"RX": 8184, "TX": 8184}
    assert rings["current"] == {"RX": 2048, "TX": 4096}


def test_features_fixed_and_nested() -> None:
    features = parsers.parse_ethtool_features(text("this-machine/ethtool-k-eth0.txt"))
    assert features["rx-checksumming"] == {"on": True, "fixed": True}
    assert features["tx-checksum-ip-generic"] == {"on": True, "fixed": False}
    assert features["tx-checksum-ipv4"] == {"on": False, "fixed": True}


def test_timestamping_software_only_this_machine() -> None:
    ts = parsers.parse_ethtool_timestamping(text("this-machine/ethtool-T-eth0.txt"))
    assert ts["capabilities"] == ["software-transmit", "software-receive", "software-system-clock"]
    assert ts["phc_index"] is None
    assert ts["hardware"] is False
    assert ts["tx_modes"] == [] and ts["rx_filters"] == []


def test_timestamping_hardware_nic() -> None:
    ts = parsers.parse_ethtool_timestamping(text("public/hwts-ethtool-T.txt"))
    assert ts["hardware"] is True
    assert ts["phc_index"] == 0
    assert "hardware-raw-clock" in ts["capabilities"]
    assert ts["tx_modes"] == ["off", "on"]
    assert ts["rx_filters"] == ["none", "all"]


def test_driver_info() -> None:
    info = parsers.parse_ethtool_driver(text("public/intel-e1000e-ethtool-i.txt"))
    assert info["driver"] == "e1000e"
    assert info["bus-info"] == "0000:03:00.0"
    assert parsers.parse_ethtool_driver(text("this-machine/ethtool-i-eth0.txt"))["driver"] == (
        "virtio_net"
    )


def test_interrupts_this_machine() -> None:
    parsed = parsers.parse_interrupts(text("this-machine/interrupts.txt"))
    assert parsed["cpus"] == [0, 1]
    row = parsed["irqs"]["26"]
    assert row["counts"] == [0, 13]
    assert "ttyS0" in row["desc"]
    assert len(parsed["irqs"]["LOC"]["counts"]) == 2
    assert parsed["irqs"]["ERR"]["counts"] == [0]  # ERR and MIS print one column only


def test_pmc_uncalibrated_client() -> None:
    responses = parsers.parse_pmc(text("this-machine/pmc-uncalibrated-client.txt"))
    assert [r["tlv"] for r in responses] == ["CURRENT_DATA_SET", "PORT_DATA_SET", "TIME_STATUS_NP"]
    values = parsers.pmc_values(responses)
    assert values["offset_ns"] == -14.0
    assert values["path_delay_ns"] == 2388.0
    assert values["port_state"] == "UNCALIBRATED"
    assert values["gm_present"] is True
    assert values["gm_identity"] == "8e5546.fffe.93f3d7"
    assert values["master_offset_ns"] == -14


def test_pmc_grandmaster() -> None:
    values = parsers.pmc_values(parsers.parse_pmc(text("this-machine/pmc-grandmaster.txt")))
    assert values["port_state"] == "MASTER"
    assert values["gm_present"] is False
    assert values["steps_removed"] == 0


def test_pmc_without_a_daemon_answers_nothing() -> None:
    assert parsers.parse_pmc(text("this-machine/pmc-no-daemon.txt")) == []
    assert parsers.pmc_values([]) == {}


def test_status_cpus_allowed() -> None:
    status = parsers.parse_status(text("this-machine/proc-self-status.txt"))
    assert status["Name"] == "cat"
    assert status["Cpus_allowed_list"] == "0-1"
    assert status["Cpus_allowed"] == "3"


def test_swaps_header_only() -> None:
    assert parsers.parse_swaps(text("this-machine/swaps.txt")) == []


def test_kmsg_records() -> None:
    records = [
        parsers.parse_kmsg(line) for line in text("this-machine/kmsg-records.txt").splitlines()
    ]
    parsed = [r for r in records if r]
    assert len(parsed) == len(records)
    assert any("HugeTLB" in r["msg"] or "BIOS" in r["msg"] for r in parsed)
    assert all(0 <= r["level"] <= 7 for r in parsed)
    assert parsers.parse_kmsg("not a record") is None


def test_dmesg_line() -> None:
    assert parsers.parse_dmesg_line("[    0.000000] Housekeeping: nohz unsupported.\n") == (
        "Housekeeping: nohz unsupported."
    )


def test_cmdline_quoting() -> None:
    assert parsers.parse_cmdline('ro "acpi_osi=Windows 2020" quiet\n') == [
        "ro",
        "acpi_osi=Windows 2020",
        "quiet",
    ]


def test_lab_vm_e1000e() -> None:
    # qemu e1000e in a lab VM (Debian 12, kernel 6.1): rx-usecs only, adaptive n/a, a PHC.
    values = parsers.parse_ethtool_coalesce(text("lab-vm/ethtool-c-ens1-e1000e.txt"))
    assert values["rx-usecs"] == 3
    assert values["adaptive-rx"] is None
    assert values["tx-usecs"] is None
    ts = parsers.parse_ethtool_timestamping(text("lab-vm/ethtool-T-ens1-e1000e.txt"))
    assert ts["hardware"] is True and ts["phc_index"] == 0
    assert "ptpv2-event" in ts["rx_filters"]
    assert parsers.parse_ethtool_driver(text("lab-vm/ethtool-i-ens1-e1000e.txt"))["driver"] == (
        "e1000e"
    )
    assert parsers.parse_ethtool_rings(text("lab-vm/ethtool-g-ens1-e1000e.txt"))["max"]["RX"] == (
        4096
    )


def test_systemctl_show_recorded() -> None:
    units = {u["Id"]: u for u in parsers.parse_systemctl_show(text("lab-vm/systemctl-show.txt"))}
    assert units["irqbalance.service"]["SubState"] == "running"
    assert units["irqbalance.service"]["MainPID"] == "364"  # printed before Id in the block
    assert units["chrony.service"]["LoadState"] == "not-found"
    assert units["systemd-timesyncd.service"]["UnitFileState"] == "masked"


@pytest.mark.parametrize(
    ("content", "cpus"), [("(null)\n", set()), ("\n", set()), ("2-3\n", {2, 3})]
)
def test_sysfs_cpulist(content: str, cpus: set[int]) -> None:
    # nohz_full reads "(null)" on a kernel with NO_HZ_FULL booted without nohz_full= (lab VM).
    assert parsers.parse_sysfs_cpulist(content) == cpus


def test_systemctl_show_blocks() -> None:
    sample = (
        "Id=irqbalance.service\nActiveState=inactive\nSubState=dead\nUnitFileState=masked\n\n"
        "Id=ptp4l@eth1.service\nActiveState=active\nSubState=running\nMainPID=900\n"
    )
    units = parsers.parse_systemctl_show(sample)
    assert [u["Id"] for u in units] == ["irqbalance.service", "ptp4l@eth1.service"]
    assert units[0]["UnitFileState"] == "masked"
    assert units[1]["MainPID"] == "900"
