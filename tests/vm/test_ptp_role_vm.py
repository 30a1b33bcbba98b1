"""roles/ptp on a lab VM: refusal without hardware timestamping, apply, idempotence, check mode.

The role must refuse `ptp_timestamping: hardware` on a NIC whose driver offers no
hardware timestamping (the VM's virtio-net NIC), naming the missing capabilities,
and apply with software timestamping (the lab group's setting). The emulated
e1000e trading NIC advertises hardware timestamping that qemu does not deliver
(LAB-NOTES): the role trusts the driver there, and PTP-003/004 judge the daemon.
ptp4l then runs as a client on the VM's NIC with no master on that network:
its unit is active and pmc answers through the role's socket (LISTENING).
Wall times and changed counts are printed for the issue notes (pytest -s).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from colotune.lab import image
from colotune.ptp import pmc

pytestmark = pytest.mark.vm

MGMT_NIC = image.MGMT_NIC  # the lab VM's virtio-net management NIC, pinned by the image


def _play(vm: Any, *extra: str) -> Any:
    """The ptp play on `vm` alone (conftest.LabVm.play): a conftest.PlayRun."""
    return vm.play("playbooks/ptp.yml", *extra, timeout=1200)


@pytest.fixture(scope="module")
def ptp_vm(vm_1s4c: Any) -> Any:
    yield vm_1s4c
    vm_1s4c.lab.reset(vm_1s4c.name)  # the role masks the VM's time daemons: start clean again


def _nic(vm: Any) -> str:
    """The VM's trading NIC, as the lab inventory names it (tuning_nic)."""
    doc = yaml.safe_load(Path(vm.inventory).read_text())
    nic = doc["all"]["children"]["lab"]["hosts"][vm.name].get("tuning_nic")
    assert nic, f"the lab inventory names no tuning_nic for {vm.name}"
    return str(nic)


def test_refuses_hardware_timestamping_on_an_emulated_nic(ptp_vm: Any) -> None:
    # The e1000e trading NIC advertises hardware timestamping (ethtool -T lists the
    # capabilities, a PHC and RX filters) although qemu delivers no RX stamps; the role
    # can only trust what the driver says. The virtio management NIC has none of it.
    run = _play(ptp_vm, "-e", "ptp_timestamping=hardware", "-e", f"ptp_interface={MGMT_NIC}")
    print(f"\n[ptp] refusal: rc={run.rc}, {run.seconds:.1f} s")
    assert run.rc != 0
    # Ansible's YAML callback folds long messages over lines: judge the words.
    words = " ".join(run.output.split())
    assert "cannot do hardware timestamping" in words, run.output[-3000:]
    assert "set ptp_timestamping: software explicitly" in words
    assert "hardware-receive" in words
    # Nothing was set up before the refusal.
    assert ptp_vm.run("ls /etc/linuxptp/ | grep -c '^ptp4l-' || true").strip() == "0"


def test_applies_with_software_timestamping_then_changes_nothing(ptp_vm: Any) -> None:
    nic = _nic(ptp_vm)
    first = _play(ptp_vm)  # ptp_interface unset: the role takes tuning_nic
    print(f"\n[ptp] apply: {first.seconds:.1f} s, changed={first.changed}")
    assert first.rc == 0, first.output[-5000:]
    assert first.changed > 0

    second = _play(ptp_vm)
    print(f"[ptp] rerun: {second.seconds:.1f} s, changed={second.changed}")
    assert second.rc == 0, second.output[-5000:]
    assert second.changed == 0, second.output[-5000:]

    check = _play(ptp_vm, "--check", "--diff")
    print(f"[ptp] check: {check.seconds:.1f} s, changed={check.changed}")
    assert check.rc == 0, check.output[-5000:]
    assert check.changed == 0

    assert ptp_vm.run(f"systemctl is-active ptp4l@{nic}.service").strip() == "active"
    assert ptp_vm.run(f"systemctl is-enabled ptp4l@{nic}.service").strip() == "enabled"
    # Software timestamping: ptp4l steers CLOCK_REALTIME itself, no phc2sys.
    assert ptp_vm.run(f"systemctl is-active phc2sys@{nic}.service || true").strip() != "active"
    config = ptp_vm.run(f"cat /etc/linuxptp/ptp4l-{nic}.conf")
    assert "time_stamping           software" in config
    assert re.search(r"tx_timestamp_timeout\s+10\b", config)
    timesyncd = ptp_vm.run("systemctl is-enabled systemd-timesyncd.service || true").strip()
    assert timesyncd in ("masked", "not-found", "")
    answer = ptp_vm.run(" ".join(f"'{a}'" for a in pmc.argv(pmc.uds_address(nic), domain=0)))
    sample = pmc.sample(answer, 0)
    assert sample["answered"], answer
    assert sample["port_state"] in ("LISTENING", "MASTER", "UNCALIBRATED", "SLAVE")


def test_market_hours_refuse_a_ptp4l_restart(ptp_vm: Any) -> None:
    """A new ptp4l setting inside market hours: check mode reports it, a real run refuses it
    and leaves the configuration and the running ptp4l as they were."""
    nic = _nic(ptp_vm)
    config = f"/etc/linuxptp/ptp4l-{nic}.conf"
    before = ptp_vm.run(f"md5sum {config}; systemctl show -p MainPID ptp4l@{nic}.service")
    inside = (
        "-e",
        "colotune_now=2026-11-23T10:00:00-05:00",  # a Monday, 10:00 New York
        "-e",
        '{"colotune_trading_days": ["mon", "tue", "wed", "thu", "fri"], '
        '"ptp_summary_interval": 2}',
    )
    check = _play(ptp_vm, *inside, "--check", "--diff")
    assert check.rc == 0, check.output[-5000:]
    assert check.changed > 0
    assert "TEST CLOCK: colotune_now=2026-11-23T10:00:00-05:00" in check.words
    refused = _play(ptp_vm, *inside)
    assert refused.rc != 0
    assert "disruptive change refused in market hours" in refused.words
    assert "ptp4l configuration (restarts ptp4l)" in refused.words
    after = ptp_vm.run(f"md5sum {config}; systemctl show -p MainPID ptp4l@{nic}.service")
    assert after == before
