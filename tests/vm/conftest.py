"""The `vm` tier: real Debian kernels in lab VMs under qemu, shared across the test run.

Fixtures boot each preset's VM once per session (on a state directory of its own
under pytest's tmp dir, so a developer's own `colotune lab up` is left alone), reset
it where a test needs a pristine host, and stop every qemu they started at the end,
also when a test fails. The image comes from the normal cache (built there once).
Tests that use the `1s4c` VM run first; it is stopped when the `2s4c2t` VM boots,
so one VM of this run is up at a time (the machine's cores are shared).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from colotune.errors import ColotuneError
from colotune.lab import paths
from colotune.lab.runner import Lab, _pid_is_vm


def _missing_prerequisite() -> str | None:
    for tool in ("qemu-system-x86_64", "qemu-img", "debootstrap", "mkfs.ext4", "ssh"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (scripts/install installs it)"
    if os.geteuid() != 0:
        return "building the lab image needs root (debootstrap)"
    return None


def _vm_order(item: pytest.Item) -> int:
    names = getattr(item, "fixturenames", ())
    if "vm_2s4c2t" in names:
        return 2
    return 0 if "vm_1s4c" in names else 1


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # The 1s4c tests first, then the 2s4c2t ones: each VM boots once per run, and
    # only one of them runs at a time.
    slots = [i for i, item in enumerate(items) if _vm_order(item) != 1]
    ordered = sorted((items[i] for i in slots), key=_vm_order)
    for i, item in zip(slots, ordered, strict=True):
        items[i] = item
    for item in items:
        if (
            item.get_closest_marker("vm")
            and item.get_closest_marker("slow")
            and os.environ.get(FULL_ENV) != "1"
        ):
            item.add_marker(pytest.mark.skip(reason=FULL_REASON))
    reason = _missing_prerequisite()
    if reason is None:
        return
    for item in items:
        if item.get_closest_marker("vm"):
            item.add_marker(pytest.mark.skip(reason=reason))


# Tests marked both `vm` and `slow` run only when asked for: the trader proof (it builds
# and deploys the engine and applies its play five times, about 12 minutes on a quiet
# 2-core machine and over 30 under load) would take the tier past its budget. The lab's
# own tests and the tuning, audit and ptp proofs always run.
FULL_ENV = "COLOTUNE_VM_FULL"
FULL_REASON = (
    "a long role proof on a lab VM under software emulation (over the vm tier's budget "
    f"on 2 cores); set {FULL_ENV}=1 to run it"
)


REPO = Path(__file__).resolve().parents[2]
PLAYBOOK = str(REPO / ".venv" / "bin" / "ansible-playbook")


@dataclass(frozen=True)
class PlayRun:
    """One ansible-playbook run against a lab VM."""

    rc: int
    seconds: float
    changed: int  # from the PLAY RECAP; -1 when the play printed none
    output: str  # stdout, then stderr

    @property
    def words(self) -> str:
        """The output with every run of whitespace as one space: Ansible's YAML callback
        folds long messages over several lines."""
        return " ".join(self.output.split())


@dataclass
class LabVm:
    """One booted lab VM of a session: its Lab (state dir), host name and inventory file."""

    lab: Lab
    name: str
    preset: str
    boot_seconds: float

    @property
    def inventory(self) -> Path:
        return self.lab.inventory

    def ensure_running(self) -> None:
        """Boot the VM again if the fixtures stopped it to make room for another."""
        if not self.lab.is_running(self.lab.host(self.name)):
            self.lab.up(count=1, preset_name=self.preset)

    def run(self, command: str, *, timeout: float = 120) -> str:
        self.ensure_running()
        return self.lab.run(self.name, command, timeout=timeout).stdout

    def play(self, playbook: str, *extra: str, timeout: float = 1800) -> PlayRun:
        """Run `playbook` (a path from the repository's root) against this VM alone, with
        the repository's inventory and ansible.cfg and the lab's inventory."""
        self.ensure_running()
        argv = [
            PLAYBOOK, playbook, "-i", str(REPO / "inventory"), "-i", str(self.inventory),
            "-l", self.name, *extra,
        ]  # fmt: skip
        env = {
            **os.environ,
            "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
            "ANSIBLE_FORCE_COLOR": "0",
            "PATH": f"{REPO / '.venv' / 'bin'}:{os.environ['PATH']}",
        }
        started = time.monotonic()
        done = subprocess.run(
            argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout, check=False
        )
        match = re.search(r"changed=(\d+)", done.stdout.split("PLAY RECAP")[-1])
        return PlayRun(
            done.returncode,
            time.monotonic() - started,
            int(match.group(1)) if match else -1,
            done.stdout + done.stderr,
        )


def _make_lab(tmp_root: Path, preset: str) -> Lab:
    state = tmp_root / f"lab-{preset}"
    return Lab(state=state, cache=paths.cache_dir(), inventory=state / "inventory" / "lab.yml")


def _boot(lab: Lab, preset: str) -> LabVm:
    # A boot that fails (no SSH even after the slow-boot grace of docs/lab.md, "Slow
    # boots on a loaded host") is tried once more, and said, before every test that
    # needs the VM fails.
    try:
        host = lab.up(count=1, preset_name=preset)["lab1"]
    except ColotuneError as exc:
        print(f"\nlab: {preset} VM did not answer SSH, booting it again: {str(exc)[:300]}")
        lab.down()
        host = lab.up(count=1, preset_name=preset)["lab1"]
    return LabVm(lab=lab, name="lab1", preset=preset, boot_seconds=host.boot_seconds or 0.0)


def _teardown(lab: Lab) -> None:
    started = [(h.pid, h.name) for h in lab.hosts().values() if h.pid]
    lab.down()
    alive = [pid for pid, name in started if _pid_is_vm(pid, name)]
    assert not alive, f"qemu still running after lab down: {alive}"


@pytest.fixture(scope="session")
def lab_tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Short path: ssh control sockets live below it (108-byte limit on socket paths).
    return tmp_path_factory.mktemp("lab")


@pytest.fixture(scope="session")
def lab_pool(lab_tmp: Path) -> Iterator[dict[str, Lab]]:
    """The Labs of this test run, one per preset; every VM is stopped at the end."""
    labs: dict[str, Lab] = {}
    try:
        yield labs
    finally:
        errors = []
        for lab in labs.values():
            try:
                _teardown(lab)
            except Exception as exc:  # tear down the others first, then report
                errors.append(exc)
        if errors:
            raise errors[0]


def _vm(pool: dict[str, Lab], lab_tmp: Path, preset: str) -> LabVm:
    lab = _make_lab(lab_tmp, preset)
    pool[preset] = lab  # registered before booting: a failed boot is torn down too
    return _boot(lab, preset)


@pytest.fixture(scope="session")
def vm_1s4c(lab_pool: dict[str, Lab], lab_tmp: Path) -> LabVm:
    """A booted `1s4c` VM (4 vCPUs, one node), shared by the session.

    Tests that use it run first (see pytest_collection_modifyitems); when the
    `2s4c2t` VM boots, this one is stopped, and booted again on its next use."""
    return _vm(lab_pool, lab_tmp, "1s4c")


@pytest.fixture(scope="session")
def vm_2s4c2t(lab_pool: dict[str, Lab], lab_tmp: Path) -> LabVm:
    """A booted `2s4c2t` VM (16 vCPUs, 2 NUMA nodes, NIC on node 1), shared by the session."""
    for lab in lab_pool.values():
        lab.stop_all()  # one VM of this run at a time: the cores are shared
    return _vm(lab_pool, lab_tmp, "2s4c2t")


@pytest.fixture
def pristine_1s4c(vm_1s4c: LabVm) -> Iterator[LabVm]:
    """The `1s4c` VM, put back on the pristine image after the test (it may change it)."""
    yield vm_1s4c
    vm_1s4c.lab.reset(vm_1s4c.name)
