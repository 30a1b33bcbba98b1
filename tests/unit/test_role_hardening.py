"""The host hardening the roles do, rendered by Ansible's own templar: the trader unit's sandbox,
judged by systemd, and the 1 GiB hugetlbfs mount kept to the trader's group.

`systemd-analyze security --offline=true` scores the rendered unit file (systemd 250+);
`systemd-analyze syscall-filter` says what a system call group holds on this systemd.
Both are skipped, with the reason, where the tool is missing or too old.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar
from pydantic import ValidationError

from colotune.profile import HostProfile

ROLES = Path(__file__).resolve().parents[2] / "roles"
UNIT = "colotune-trader.service"
# Highest exposure `systemd-analyze security` may give the rendered unit (0 best, 10 worst).
# The unit scored 6.2 with ProtectSystem=full, ProtectHome and PrivateTmp only.
MAX_EXPOSURE = 2.1
MAX_EXPOSURE_ONLOAD_RAW = 2.5
# What the launcher and the engine call: affinity, SCHED_FIFO, locked memory, NUMA policy,
# parent-death signal, resource limits, sockets with timestamps, ioctl (Onload's device).
NEEDED_SYSCALLS = (
    "sched_setaffinity",
    "sched_getaffinity",
    "sched_setscheduler",
    "sched_setattr",
    "mlockall",
    "set_mempolicy",
    "mbind",
    "prctl",
    "prlimit64",
    "setrlimit",
    "socket",
    "setsockopt",
    "recvmsg",
    "sendmsg",
    "ioctl",
    "mmap",
    "clone3",
    "execve",
    "kill",
    "tgkill",
)


def templar(*roles: str, **overrides: Any) -> Templar:
    """The roles' defaults and internal vars (in order), with realistic inputs and overrides."""
    variables: dict[str, Any] = {}
    for role in roles:
        for name in ("defaults", "vars"):
            variables.update(yaml.safe_load((ROLES / role / name / "main.yml").read_text()))
    inputs = {
        "ansible_managed": "Ansible managed",
        "trader_engine_src": "engine/build/t2t",
        "colotune_plan": {"housekeeping_cpus": "0,1"},
    }
    return Templar(loader=DataLoader(), variables={**variables, **inputs, **overrides})


def render(**overrides: Any) -> str:
    template = (ROLES / "trader" / "templates" / f"{UNIT}.j2").read_text()
    return str(templar("trader", **overrides).template(template))


def mount_options(*roles: str, **overrides: Any) -> str:
    template = (ROLES / "tuning" / "templates" / "dev-hugepages1G.mount.j2").read_text()
    text = str(templar(*roles, **overrides).template(template))
    return service_like(text, "[Mount]")["Options"][0]


def service(text: str) -> dict[str, list[str]]:
    """The [Service] section's settings, each with every value it is given."""
    return service_like(text, "[Service]")


def service_like(text: str, header: str) -> dict[str, list[str]]:
    section = text.split(header, 1)[1].split("\n[", 1)[0]
    settings: dict[str, list[str]] = {}
    for line in section.splitlines():
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            settings.setdefault(key, []).append(value)
    return settings


def analyze(*args: str) -> subprocess.CompletedProcess[str]:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed here")
    return subprocess.run(
        ["systemd-analyze", *args], capture_output=True, text=True, check=False, timeout=60
    )


def exposure(tmp_path: Path, text: str) -> float:
    path = tmp_path / UNIT
    path.write_text(text)
    done = analyze("security", "--offline=true", "--no-pager", str(path))
    if "--offline" in done.stderr and "unrecognized" in done.stderr:
        pytest.skip("systemd-analyze here has no --offline (systemd 250+ has it)")
    found = re.search(r"Overall exposure level for \S+: (\d+\.\d)", done.stdout)
    assert found, done.stdout[-2000:] + done.stderr[-2000:]
    return float(found.group(1))


@cache
def syscall_group(group: str) -> frozenset[str]:
    done = analyze("syscall-filter", "--no-pager", group)
    assert done.returncode == 0, done.stderr
    names: set[str] = set()
    for line in done.stdout.splitlines()[1:]:
        word = line.strip()
        if word and not word.startswith("#"):
            names |= syscall_group(word) if word.startswith("@") else {word}
    return frozenset(names)


def test_the_unit_scores_at_most_its_exposure(tmp_path: Path) -> None:
    assert exposure(tmp_path, render()) <= MAX_EXPOSURE


def test_the_unit_under_onload_with_raw_sockets_scores_at_most_its_exposure(
    tmp_path: Path,
) -> None:
    text = render(trader_onload=True, trader_net_raw=True)
    assert exposure(tmp_path, text) <= MAX_EXPOSURE_ONLOAD_RAW


def test_the_sandbox_keeps_what_the_engine_needs() -> None:
    settings = service(render())
    assert settings["ProtectSystem"] == ["strict"]
    assert settings["ReadWritePaths"] == ["/var/lib/colotune/trader -/dev/hugepages1G"]
    assert settings["CapabilityBoundingSet"] == ["CAP_SYS_NICE CAP_IPC_LOCK"]
    assert settings["AmbientCapabilities"] == ["CAP_SYS_NICE CAP_IPC_LOCK"]
    assert settings["RestrictAddressFamilies"] == ["AF_INET AF_INET6 AF_UNIX AF_NETLINK"]
    assert settings["SystemCallFilter"] == ["@system-service", "~@privileged"]
    assert settings["ProtectClock"] == ["yes"]
    assert settings["UMask"] == ["0077"]
    for name in ("MemoryDenyWriteExecute", "NoNewPrivileges", "RestrictNamespaces"):
        assert settings[name] == ["yes"], name
    # SCHED_FIFO for the planned threads; /dev/hugepages1G and Onload's devices stay visible.
    assert "RestrictRealtime" not in settings
    assert "PrivateDevices" not in settings


def test_onload_keeps_its_devices_and_raw_sockets_their_family() -> None:
    settings = service(render(trader_onload=True, trader_net_raw=True))
    assert "ProtectClock" not in settings  # it may close every device but the RTC
    assert "DeviceAllow" not in settings
    assert settings["RestrictAddressFamilies"] == ["AF_INET AF_INET6 AF_UNIX AF_NETLINK AF_PACKET"]
    assert settings["CapabilityBoundingSet"] == ["CAP_SYS_NICE CAP_IPC_LOCK CAP_NET_RAW"]


@pytest.mark.parametrize("syscall", NEEDED_SYSCALLS)
def test_the_system_call_filter_allows_what_the_launcher_and_engine_call(syscall: str) -> None:
    allowed = syscall_group("@system-service") - syscall_group("@privileged")
    assert syscall in allowed


def test_the_hugepages_mount_is_the_trader_groups_only() -> None:
    gid = {"__tuning_hugepages_gid": {"gid": 997}}
    assert mount_options("tuning", **gid) == "pagesize=1G,mode=1770,gid=997"
    # --check before the group exists: the name, which mount(8) resolves
    assert mount_options("tuning") == "pagesize=1G,mode=1770,gid=trader"
    assert mount_options("tuning", trader_user="hft") == "pagesize=1G,mode=1770,gid=hft"
    named = mount_options("tuning", trader_user="hft", tuning_hugepages_group="hugepages")
    assert named == "pagesize=1G,mode=1770,gid=hugepages"


@pytest.mark.parametrize(
    ("overrides", "groups"),
    [
        ({}, []),
        ({"tuning_hugepages_group": "trader"}, []),  # the user's own group
        ({"tuning_hugepages_group": "hugepages"}, ["hugepages"]),
    ],
)
def test_the_trader_user_joins_the_hugepages_group(
    overrides: dict[str, Any], groups: list[str]
) -> None:
    rendered = templar("tuning", "trader", **overrides).template("{{ __trader_hugepages_groups }}")
    assert rendered == groups


CREDENTIAL = "/run/credentials/colotune-trader.service/gateway-password"


def test_the_gateway_password_reaches_the_engine_as_a_credential_only() -> None:
    secret = {"trader_gateway_password": "s3cr3tpw"}
    settings = service(render(**secret))
    assert settings["LoadCredential"] == ["gateway-password:/etc/colotune/trader-gateway-password"]
    args = templar("trader", **secret).template("{{ __trader_password_args }}")
    assert args == ["--password-file", CREDENTIAL]
    assert "LoadCredential" not in service(render())
    assert templar("trader").template("{{ __trader_password_args }}") == []


def test_every_task_that_touches_the_password_hides_it_from_the_log() -> None:
    tasks = yaml.safe_load((ROLES / "trader" / "tasks" / "deploy.yml").read_text())
    touching = [
        task
        for block in tasks
        for task in block.get("block", [block])
        if "trader_gateway_password }}" in yaml.safe_dump(task)
    ]
    assert touching, "no task writes the password"
    for task in touching:
        assert task.get("no_log") is True, task["name"]
        assert task["ansible.builtin.copy"]["mode"] == "0600", task["name"]


def test_the_profile_refuses_a_password_in_the_engines_command_line() -> None:
    with pytest.raises(ValidationError, match="trader_gateway_password"):
        HostProfile(tuning_nic="eth0", trader_engine_args=["--gateway", "g:1", "--password", "x"])
    with pytest.raises(ValidationError, match="trader_gateway_password") as raised:
        HostProfile(
            tuning_nic="eth0",
            trader_gateway_password="s3cr3tpw",
            trader_engine_password_option=None,
        )
    assert "s3cr3tpw" not in str(raised.value)
