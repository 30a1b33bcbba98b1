"""What roles/ptp writes, decided by colotune.ptp.role from recorded ethtool output."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
import yaml

from colotune.host import collector
from colotune.ptp import role

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
VETH = (FIXTURES / "ptp" / "ethtool-T-veth.txt").read_text()
HWTS = (FIXTURES / "facts" / "public" / "hwts-ethtool-T.txt").read_text()
E1000E_I = (FIXTURES / "facts" / "public" / "intel-e1000e-ethtool-i.txt").read_text()


def _settings(ethtool_t: str, **kwargs: object) -> dict[str, object]:
    args: dict[str, object] = {
        "interface": "eth1",
        "ethtool_i": "driver: igb\nversion: 6.1\n",
        "ptp4l_version": "3.1.1\n",
        "timestamping_mode": "hardware",
        "role": "client",
    }
    args.update(kwargs)
    return role.settings(ethtool_t=ethtool_t, **args)  # type: ignore[arg-type]


def test_hardware_client_on_igb() -> None:
    s = _settings(HWTS)
    assert s["refusal"] is None
    assert s["driver"] == "igb"
    assert s["tx_timestamp_timeout_ms"] == 10
    assert s["phc_device"] == "/dev/ptp0"
    assert s["uds_address"] == "/run/ptp4l-eth1"
    assert s["client_only_key"] == "slaveOnly" and s["uds_ro_address"] is None
    assert s["phc2sys"] is True
    assert shlex.split(str(s["phc2sys_opts"])) == [
        "-s", "eth1", "-c", "CLOCK_REALTIME", "-w", "-z", "/run/ptp4l-eth1", "-n", "0",
        "-l", "6",
    ]  # fmt: skip
    assert s["clock_owners"] == {"PHC": "ptp4l", "CLOCK_REALTIME": "phc2sys"}


def test_grandmaster_feeds_the_phc_from_the_system_clock() -> None:
    s = _settings(HWTS, role="grandmaster", domain=24, summary_interval=3)
    opts = shlex.split(str(s["phc2sys_opts"]))
    assert opts[:4] == ["-s", "CLOCK_REALTIME", "-c", "eth1"]
    assert opts[opts.index("-n") + 1] == "24"
    assert opts[opts.index("-u") + 1] == "8"


def test_ice_gets_a_longer_timeout_and_a_setting_wins() -> None:
    assert _settings(HWTS, ethtool_i="driver: ice\n")["tx_timestamp_timeout_ms"] == 50
    assert _settings(HWTS, ethtool_i=E1000E_I)["tx_timestamp_timeout_ms"] == 10
    assert (
        _settings(HWTS, ethtool_i="", tx_timestamp_timeout_ms=30)["tx_timestamp_timeout_ms"] == 30
    )


def test_hardware_is_refused_without_hardware_timestamping() -> None:
    s = _settings(VETH, interface="ptpxa")
    refusal = str(s["refusal"])
    assert "ptpxa cannot do hardware timestamping" in refusal
    assert "ptp_timestamping: software" in refusal


def test_software_mode_runs_no_phc2sys() -> None:
    s = _settings(VETH, timestamping_mode="software")
    assert s["refusal"] is None
    assert s["phc2sys"] is False and s["phc2sys_opts"] == ""
    assert s["clock_owners"] == {"CLOCK_REALTIME": "ptp4l"}


@pytest.mark.parametrize(
    ("version", "major", "client_key", "server_key"),
    [("3.1.1\n", 3, "slaveOnly", "masterOnly"), ("4.2\n", 4, "clientOnly", "serverOnly"),
     ("", 3, "slaveOnly", "masterOnly")],
)  # fmt: skip
def test_option_names_follow_the_linuxptp_version(
    version: str, major: int, client_key: str, server_key: str
) -> None:
    s = _settings(HWTS, ptp4l_version=version)
    assert (s["linuxptp_major"], s["client_only_key"], s["server_only_key"]) == (
        major, client_key, server_key,
    )  # fmt: skip
    assert (s["uds_ro_address"] is not None) == (major >= 4)


def test_the_role_masks_what_the_audit_reads() -> None:
    """One list of competing time services: the role masks it (through settings), PTP-007
    judges it, and the collector reads every one on the host."""
    assert _settings(HWTS)["competing_units"] == list(collector.TIME_UNITS)
    assert set(collector.TIME_UNITS) <= set(collector.UNITS)
    assert set(collector.TIME_DAEMONS) <= set(collector.DAEMONS)
    assert "timemaster.service" in collector.TIME_UNITS


ROLE = Path(__file__).resolve().parents[2] / "roles" / "ptp"
HOLD = "{{ ansible_check_mode or __ptp_hold }}"
WRITES = ("ansible.builtin.apt", "ansible.builtin.template", "ansible.builtin.systemd_service")


def _tasks(name: str) -> list[dict[str, object]]:
    tasks: list[dict[str, object]] = yaml.safe_load((ROLE / "tasks" / name).read_text())
    return tasks


@pytest.mark.parametrize("name", ["discipline.yml", "linuxptp.yml", "disabled.yml"])
def test_every_change_is_held_in_market_hours(name: str) -> None:
    """Each task that installs, writes, starts, stops or masks runs in check mode only while
    the guard holds disruptive changes, and registers its result for refused.yml."""
    refused = (ROLE / "tasks" / "refused.yml").read_text()
    for task in _tasks(name):
        if not any(module in task for module in WRITES):
            continue
        module = next(m for m in WRITES if m in task)
        body = task[module]
        if isinstance(body, dict) and set(body) == {"daemon_reload"}:
            assert "__ptp_hold" in str(task["when"]), task["name"]
            continue
        assert task.get("check_mode") == HOLD, task["name"]
        assert f"{task['register']} | default" in refused, task["name"]


def test_no_handler_restarts_while_held() -> None:
    handlers = yaml.safe_load((ROLE / "handlers" / "main.yml").read_text())
    for handler in handlers:
        assert "__ptp_hold" in str(handler["when"]), handler["name"]


def test_the_guard_runs_before_any_change_and_the_refusal_after() -> None:
    imports = [t["ansible.builtin.import_tasks"] for t in _tasks("main.yml")]
    assert imports[0] == "guard.yml" and imports[-1] == "refused.yml"
