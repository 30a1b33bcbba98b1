"""Lab hosts: image build, boot through GRUB, kernel command line, topology, CLI, reset."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import yaml

from colotune import profile
from colotune.host import cpulist, topology
from colotune.lab import image, paths
from colotune.lab.runner import record_topology
from colotune.plan import check_plan, make_plan

if TYPE_CHECKING:
    from conftest import LabVm

pytestmark = pytest.mark.vm


def test_image_builds_from_a_cold_cache_then_comes_from_the_warm_one(tmp_path: Path) -> None:
    """Cold: an empty image cache (no rootfs, no disk, no key); only the downloaded
    .deb files are reused from the normal cache, so the test does not depend on the
    mirror's speed. Warm: the same call again returns the cached image at once."""
    recipe = image.default_recipe()
    debs = paths.cache_dir() / "debs"
    cold = tmp_path / "cache"
    started = time.monotonic()
    built = image.ensure_image(cold, recipe=recipe, debs_dir=debs)
    cold_seconds = time.monotonic() - started
    assert built.exists()
    assert built.directory == cold / "images" / recipe.digest()
    info = subprocess.run(
        ["qemu-img", "info", "--output=json", str(built.disk)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(info.stdout)["format"] == "qcow2"
    assert built.ssh_key.read_text().startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    serial = (built.directory / "firstboot-serial.log").read_text(errors="replace")
    assert "COLOTUNE-FIRSTBOOT-OK" in serial
    mtime = built.disk.stat().st_mtime_ns

    started = time.monotonic()
    again = image.ensure_image(cold, recipe=recipe, debs_dir=debs)
    warm_seconds = time.monotonic() - started
    assert again == built
    assert built.disk.stat().st_mtime_ns == mtime  # not rebuilt
    print(f"\nimage build: cold {cold_seconds:.0f} s, warm {warm_seconds:.2f} s")

    # On a machine whose normal cache has no image yet (a fresh CI runner), hand this
    # one over so that the VM fixtures do not build the same recipe a second time.
    shared = image.image_for(paths.cache_dir(), recipe)
    if not shared.exists():
        shared.directory.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(shared.directory, ignore_errors=True)
        shutil.move(built.directory, shared.directory)


def test_vm_boots_from_its_disk_through_grub_to_ssh(vm_1s4c: LabVm) -> None:
    print(f"\n1s4c boot to SSH: {vm_1s4c.boot_seconds:.0f} s")
    assert vm_1s4c.run("hostname").strip() == "lab1"
    cmdline = vm_1s4c.run("cat /proc/cmdline")
    # GRUB passes BOOT_IMAGE; a direct -kernel boot would not.
    assert "BOOT_IMAGE=/boot/vmlinuz-" in cmdline
    assert "console=ttyS0" in cmdline
    assert vm_1s4c.run("nproc").strip() == "4"
    assert vm_1s4c.run("ls /sys/devices/system/node | grep -c '^node'").strip() == "1"


def test_trading_nic_is_up_with_a_phc_and_in_the_inventory(vm_1s4c: LabVm) -> None:
    doc = yaml.safe_load(vm_1s4c.inventory.read_text())
    host = doc["all"]["children"]["lab"]["hosts"]["lab1"]
    nic = host["tuning_nic"]
    assert host["ansible_host"] == "127.0.0.1"
    state = vm_1s4c.run(f"cat /sys/class/net/{nic}/operstate").strip()
    assert state == "up"
    info = vm_1s4c.run(f"ethtool -i {nic}")
    assert "driver: e1000e" in info or "driver: igb" in info
    ts = vm_1s4c.run(f"ethtool -T {nic}")
    assert "PTP Hardware Clock: 0" in ts
    # IRQs exist once the link is up (MSI-X vectors of the NIC).
    irqs = vm_1s4c.run(f"ls /sys/class/net/{nic}/device/msi_irqs | wc -l").strip()
    assert int(irqs) >= 1


def test_every_vcpu_has_a_cpufreq_policy_from_the_labs_p_state_table(vm_1s4c: LabVm) -> None:
    # colotune.lab.acpi: the SSDT's _PSS lets acpi-cpufreq load (modules-load.d), so the
    # governor and the frequency floor are real kernel settings the roles and audit act on.
    base = "/sys/devices/system/cpu/cpu[0-9]*/cpufreq"
    assert vm_1s4c.run(f"cat {base}/scaling_driver | sort -u").split() == ["acpi-cpufreq"]
    frequencies = vm_1s4c.run(
        "cat /sys/devices/system/cpu/cpu0/cpufreq/scaling_available_frequencies"
    )
    assert frequencies.split() == ["3000000", "2000000", "1000000"]
    assert "performance" in vm_1s4c.run(
        "cat /sys/devices/system/cpu/cpu0/cpufreq/scaling_available_governors"
    )


def test_changed_grub_command_line_takes_effect_on_reboot_and_reset_undoes_it(
    vm_1s4c: LabVm,
) -> None:
    vm = vm_1s4c
    marker = f"colotune.labtest={uuid.uuid4().hex[:8]}"
    assert marker not in vm.run("cat /proc/cmdline")
    vm.run(
        "echo 'GRUB_CMDLINE_LINUX=\"$GRUB_CMDLINE_LINUX "
        f"{marker}\"' > /etc/default/grub.d/90-labtest.cfg && update-grub",
        timeout=300,
    )
    seconds = vm.lab.reboot(vm.name)
    print(f"\n1s4c reboot to SSH: {seconds:.0f} s")
    cmdline = vm.run("cat /proc/cmdline")
    assert marker in cmdline
    assert "console=ttyS0" in cmdline

    # `reset` puts the VM back on the pristine disk: the GRUB file and the argument go.
    seconds = vm.lab.reset(vm.name)
    print(f"1s4c reset to SSH: {seconds:.0f} s")
    assert marker not in vm.run("cat /proc/cmdline")
    assert "90-labtest.cfg" not in vm.run("ls /etc/default/grub.d/").split()


def test_cli_status_and_ssh_see_the_vm(vm_1s4c: LabVm) -> None:
    env = {
        **os.environ,
        paths.ENV_STATE: str(vm_1s4c.lab.state),
        paths.ENV_INVENTORY: str(vm_1s4c.lab.inventory),
    }
    colotune = [sys.executable, "-m", "colotune.cli", "lab"]
    status = subprocess.run(
        [*colotune, "status", "--json"], env=env, capture_output=True, text=True, check=True
    )
    rows = json.loads(status.stdout)
    assert [(r["name"], r["running"], r["preset"]) for r in rows] == [("lab1", True, "1s4c")]
    assert rows[0]["rss_mib"] > 20
    print(f"\n1s4c qemu RSS: {rows[0]['rss_mib']:.0f} MiB")
    out = subprocess.run(
        [*colotune, "ssh", "lab1", "cat", "/etc/hostname"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "lab1"
    bad = subprocess.run(
        [*colotune, "ssh", "lab9", "true"], env=env, capture_output=True, text=True, check=False
    )
    assert bad.returncode == 2
    assert "lab1" in bad.stderr


def test_2s4c2t_has_two_nodes_smt_siblings_and_the_nic_on_node_1(vm_2s4c2t: LabVm) -> None:
    vm = vm_2s4c2t
    print(f"\n2s4c2t boot to SSH: {vm.boot_seconds:.0f} s")
    sysfs = "/sys/devices/system"
    assert vm.run(f"cat {sysfs}/node/online").strip() == "0-1"
    assert vm.run(f"cat {sysfs}/node/node0/cpulist").strip() == "0-7"
    assert vm.run(f"cat {sysfs}/node/node1/cpulist").strip() == "8-15"
    assert vm.run(f"cat {sysfs}/cpu/cpu0/topology/thread_siblings_list").strip() == "0-1"
    assert vm.run(f"cat {sysfs}/cpu/cpu9/topology/physical_package_id").strip() == "1"
    for node in (0, 1):
        meminfo = vm.run(f"grep MemTotal {sysfs}/node/node{node}/meminfo").split()
        assert int(meminfo[-2]) > 2 * 1024 * 1024  # kB: room for a 1 GiB page and more
    nic = yaml.safe_load(vm.inventory.read_text())["all"]["children"]["lab"]["hosts"]["lab1"][
        "tuning_nic"
    ]
    assert vm.run(f"cat /sys/class/net/{nic}/device/numa_node").strip() == "1"
    assert " pdpe1gb " in vm.run("grep -m1 '^flags' /proc/cpuinfo") + " "


def test_recorded_topology_of_a_lab_vm_reads_and_plans(vm_2s4c2t: LabVm, tmp_path: Path) -> None:
    out = tmp_path / "lab.tar.gz"
    record_topology(vm_2s4c2t.lab, vm_2s4c2t.name, out)
    topo = topology.load(out)
    assert topo.online_cpus == frozenset(range(16))
    assert sorted(topo.nodes) == [0, 1]
    assert topo.virtualization
    nic_name = vm_2s4c2t.lab.host(vm_2s4c2t.name).tuning_nic
    assert nic_name in topo.nics
    assert topo.nics[nic_name].numa_node == 1
    assert frozenset({0, 1}) in {frozenset(c) for c in topo.cores()}
    prof = profile.build({"tuning_nic": nic_name}, host="lab1")
    plan = make_plan(topo, prof, host="lab1")
    assert check_plan(plan, topo) == []
    assert plan.numa_node == 1
    isolated = cpulist.parse(plan.isolated_cpus)
    assert isolated
    assert isolated <= frozenset(range(8, 16))
