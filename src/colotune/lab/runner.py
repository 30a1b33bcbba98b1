"""Run lab VMs: start, wait for SSH, reboot, reset, stop; state and PID files on disk.

State directory layout (default <repo>/.lab):
  lab.json            hosts, presets, ports, acceleration, image
  <host>/overlay.qcow2, qemu.pid, serial.log, qemu.log, qmp.sock
  ssh/                SSH connection-sharing sockets
Every qemu is started in its own session and recorded in <host>/qemu.pid; `down`
stops each by that PID after checking the PID still belongs to that VM's qemu.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from colotune.errors import ColotuneError
from colotune.host import parsers
from colotune.lab import acpi, paths, presets, qemu
from colotune.lab import image as image_mod
from colotune.lab import inventory as inventory_mod

ENV_ACCEL = "COLOTUNE_LAB_ACCEL"  # "tcg" forces software emulation, "kvm" forces KVM
KVM_PROBE_TIMEOUT = 25.0
SSH_TIMEOUT_PER_VCPU = 40.0
SSH_TIMEOUT_MIN = 600.0
# A boot past its SSH limit whose console still moves may take this many times as long.
SSH_PROGRESS_FACTOR = 2.5
# The console counts as moving if written within this many seconds.
CONSOLE_QUIET_LIMIT = 180.0
# Seconds an SSH probe waits for the TCP connection and sshd's banner.
SSH_PROBE_TIMEOUT = 60.0
# ssh binds its control socket at ControlPath plus 17 characters of its own (".XXXXXXXX..."),
# and a Unix socket's path holds at most 107 bytes: after %C (40 characters) and the slash,
# the directory gets 49.
CONTROL_DIR_MAX = 49

Log = Callable[[str], None]


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def max_parallel_boots() -> int:
    """VMs booted at once: at most one per host core, and never more than 2."""
    return max(1, min(2, os.cpu_count() or 1))


@dataclass
class HostState:
    name: str
    index: int
    preset: str
    ssh_port: int
    trade_mac: str
    tuning_nic: str | None = None
    pid: int | None = None
    started_at: float | None = None
    boot_seconds: float | None = None


@dataclass(frozen=True)
class HostStatus:
    name: str
    preset: str
    running: bool
    pid: int | None
    ssh_port: int
    tuning_nic: str | None
    rss_mib: float | None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _pid_is_vm(pid: int, name: str) -> bool:
    """True if `pid` is alive and is the qemu of VM `name` (guards against PID reuse)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    if stat.rsplit(")", 1)[-1].split()[0] == "Z":
        return False
    return bool(cmdline) and b"qemu-system" in cmdline[0] and name.encode() in cmdline


def _rss_mib(pid: int) -> float | None:
    try:
        rss = parsers.parse_status(Path(f"/proc/{pid}/status").read_text()).get("VmRSS")
    except OSError:
        return None
    return int(rss.split()[0]) / 1024 if rss else None


# Popen objects of VMs this process started, so their exit status is collected.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


class Lab:
    """The lab of one state directory."""

    def __init__(
        self,
        *,
        state: Path | None = None,
        cache: Path | None = None,
        inventory: Path | None = None,
        log: Log = _stderr,
    ) -> None:
        self.state = (state or paths.state_dir()).resolve()
        self.cache = (cache or paths.cache_dir()).resolve()
        self.inventory = (inventory or paths.inventory_file()).resolve()
        self.log = log

    # -- state ----------------------------------------------------------------------------

    @property
    def state_file(self) -> Path:
        return self.state / "lab.json"

    @property
    def control_dir(self) -> Path:
        """Where ssh keeps the lab's shared connections: the state dir's ssh/ when its path
        leaves room for a Unix socket's, else a short directory in the temp dir named after
        it (a deep state dir, such as a test's, made every ssh to the lab fail)."""
        own = self.state / "ssh"
        if len(str(own)) <= CONTROL_DIR_MAX:
            return own
        digest = hashlib.sha256(str(own).encode()).hexdigest()[:16]
        return Path(tempfile.gettempdir()) / f"colotune-ssh-{digest}"

    def _make_control_dir(self) -> Path:
        """The control directory, created private to this user; refused when another
        user owns it (their sockets would carry our sessions)."""
        d = self.control_dir
        d.mkdir(mode=0o700, parents=True, exist_ok=True)
        if d.stat().st_uid != os.geteuid():
            raise ColotuneError(
                f"lab: {d} belongs to another user; remove it or use another state dir"
            )
        return d

    def _load(self) -> dict[str, object]:
        try:
            data: dict[str, object] = json.loads(self.state_file.read_text())
        except FileNotFoundError:
            return {"hosts": {}}
        except (OSError, ValueError) as exc:
            raise ColotuneError(f"lab: unreadable state file {self.state_file}: {exc}") from exc
        return data

    def _save(self, data: dict[str, object]) -> None:
        self.state.mkdir(parents=True, exist_ok=True)
        tmp = self.state_file.with_suffix(".partial")
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True))
        tmp.replace(self.state_file)

    def hosts(self) -> dict[str, HostState]:
        raw = self._load().get("hosts", {})
        assert isinstance(raw, dict)
        return {name: HostState(**value) for name, value in raw.items()}

    def _save_hosts(self, hosts: dict[str, HostState], **extra: object) -> None:
        data = self._load()
        data.update(extra)
        data["hosts"] = {name: asdict(h) for name, h in sorted(hosts.items())}
        self._save(data)

    def ssh_key(self) -> Path:
        key = self._load().get("ssh_key")
        if not isinstance(key, str):
            raise ColotuneError("lab: no lab is up (run `colotune lab up` first)")
        return Path(key)

    def host(self, name: str) -> HostState:
        hosts = self.hosts()
        if name not in hosts:
            valid = ", ".join(sorted(hosts)) or "none; run `colotune lab up`"
            raise ColotuneError(f"lab: no host {name!r}; lab hosts: {valid}")
        return hosts[name]

    def host_dir(self, name: str) -> Path:
        return self.state / name

    # -- acceleration ---------------------------------------------------------------------

    def choose_accel(self, image: image_mod.Image) -> str:
        """ "kvm" if KVM really runs the guest (probed once, remembered), else "tcg"."""
        forced = os.environ.get(ENV_ACCEL, "").strip().lower()
        if forced in ("tcg", "kvm"):
            return forced
        if forced:
            raise ColotuneError(f"lab: {ENV_ACCEL}={forced!r}; valid: tcg, kvm (or unset)")
        if not os.access("/dev/kvm", os.R_OK | os.W_OK):
            self.log("lab: /dev/kvm not usable; using software emulation (TCG, slow)")
            return "tcg"
        key = f"{platform.release()} {shutil.which(qemu.QEMU)} {image.digest}"
        # A property of this machine and image, not of one lab: remembered in the cache.
        memo = self.cache / "accel.json"
        with contextlib.suppress(OSError, ValueError):
            saved = json.loads(memo.read_text())
            if saved.get("key") == key:
                accel = str(saved["accel"])
                if accel == "tcg":
                    self.log("lab: KVM cannot run the guest here; using software emulation (TCG)")
                return accel
        ok = self._kvm_runs_guest(image)
        accel = "kvm" if ok else "tcg"
        self.cache.mkdir(parents=True, exist_ok=True)
        memo.write_text(json.dumps({"key": key, "accel": accel}))
        if not ok:
            self.log("lab: KVM cannot run the guest here; using software emulation (TCG)")
        return accel

    def _kvm_runs_guest(self, image: image_mod.Image) -> bool:
        """Boot the image under KVM for a few seconds: does the kernel reach user space?"""
        probe = self.state / "kvm-probe"
        shutil.rmtree(probe, ignore_errors=True)
        probe.mkdir(parents=True)
        overlay = probe / "overlay.qcow2"
        _create_overlay(image.disk, overlay)
        serial, pid_file = probe / "serial.log", probe / "qemu.pid"
        argv = qemu.kvm_probe_argv(overlay, serial, pid_file)
        with (probe / "qemu.log").open("wb") as out:
            proc = subprocess.Popen(
                argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        try:
            deadline = time.monotonic() + KVM_PROBE_TIMEOUT
            while time.monotonic() < deadline:
                text = serial.read_text(errors="replace") if serial.exists() else ""
                if "Run /init as init process" in text or "systemd[1]" in text:
                    return True
                if proc.poll() is not None:
                    return False
                err = (probe / "qemu.log").read_text(errors="replace")
                if "KVM internal error" in err or "emulation failure" in err:
                    return False
                time.sleep(0.5)
            return False
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=30)
            shutil.rmtree(probe, ignore_errors=True)

    # -- lifecycle ------------------------------------------------------------------------

    def up(
        self,
        *,
        count: int = 1,
        preset_name: str = presets.DEFAULT_PRESET,
        debs_dir: Path | None = None,
    ) -> dict[str, HostState]:
        """Make lab1..lab<count> run with `preset_name` and answer SSH; write the inventory."""
        if count < 1 or count > 16:
            raise ColotuneError(f"lab up: --hosts {count}; valid: 1-16")
        preset = presets.get(preset_name)
        img = image_mod.ensure_image(self.cache, debs_dir=debs_dir, log=self.log)
        hosts = self.hosts()
        for name, host in hosts.items():
            if host.preset != preset.name and self.is_running(host):
                raise ColotuneError(
                    f"lab up: {name} runs preset {host.preset}, not {preset.name}; "
                    "run `colotune lab down` first"
                )
        accel = self.choose_accel(img)
        self._make_control_dir()
        self._save_hosts(hosts, image=str(img.disk), ssh_key=str(img.ssh_key), accel=accel)
        wanted = [f"lab{i}" for i in range(1, count + 1)]
        for name in sorted(set(hosts) - set(wanted)):
            self._stop(hosts.pop(name), remove=True)
        for i, name in enumerate(wanted, start=1):
            if name not in hosts:
                spec_mac = qemu.VmSpec(
                    name=name, index=i, preset=preset, disk=Path(), ssh_port=0,
                    serial_log=Path(), qmp_socket=Path(), pid_file=Path(), accel=accel,
                ).trade_mac  # fmt: skip
                hosts[name] = HostState(
                    name=name, index=i, preset=preset.name, ssh_port=_free_port(),
                    trade_mac=spec_mac,
                )  # fmt: skip
        self._save_hosts(hosts)
        to_start = [h for h in (hosts[n] for n in wanted) if not self.is_running(h)]
        batch = max_parallel_boots()
        for start in range(0, len(to_start), batch):
            group = to_start[start : start + batch]
            for host in group:
                self._start(host, img, preset, accel)
                self._save_hosts(hosts)
            for host in group:
                self.wait_ssh(host.name)
                host.boot_seconds = round(time.monotonic() - (host.started_at or 0.0), 1)
                host.tuning_nic = self._find_nic(host)
                self._save_hosts(hosts)
                self.log(
                    f"lab: {host.name} up in {host.boot_seconds:.0f} s (ssh port {host.ssh_port})"
                )
        self.write_inventory()
        return hosts

    def _start(
        self, host: HostState, img: image_mod.Image, preset: presets.Preset, accel: str
    ) -> None:
        d = self.host_dir(host.name)
        d.mkdir(parents=True, exist_ok=True)
        overlay = d / "overlay.qcow2"
        if not overlay.exists():
            _create_overlay(img.disk, overlay)
        spec = qemu.VmSpec(
            name=host.name,
            index=host.index,
            preset=preset,
            disk=overlay,
            ssh_port=host.ssh_port,
            serial_log=d / "serial.log",
            qmp_socket=d / "qmp.sock",
            pid_file=d / "qemu.pid",
            accel=accel,
            nic_model=qemu.nic_model(),
            tcg_threads=qemu.tcg_threads(
                preset.vcpus,
                len(os.sched_getaffinity(0)),
                os.environ.get(qemu.ENV_TCG_THREADS) or None,
            ),
            acpi_table=acpi.pstates_table(preset.vcpus, self.cache),
        )
        (d / "serial.log").unlink(missing_ok=True)
        argv = qemu.build_argv(spec)
        (d / "qemu.argv").write_text(" ".join(argv) + "\n")
        with (d / "qemu.log").open("wb") as out:
            proc = subprocess.Popen(
                argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,
            )  # fmt: skip
        _CHILDREN[proc.pid] = proc
        # Until the child has exec'd qemu, /proc shows this Python: wait for the exec.
        deadline = time.monotonic() + 15
        while not _pid_is_vm(proc.pid, host.name) and proc.poll() is None:
            if time.monotonic() > deadline:
                break
            time.sleep(0.02)
        (d / "qemu.pid").write_text(f"{proc.pid}\n")
        host.pid = proc.pid
        host.started_at = time.monotonic()
        mode = accel if accel == "kvm" else f"tcg, {spec.tcg_threads}-threaded"
        self.log(f"lab: starting {host.name} ({preset.name}, {preset.vcpus} vCPUs, {mode})")

    def is_running(self, host: HostState) -> bool:
        return host.pid is not None and _pid_is_vm(host.pid, host.name)

    def _stop(self, host: HostState, *, remove: bool) -> None:
        subprocess.run(
            ["ssh", *self._ssh_options(), "-O", "exit", "-p", str(host.ssh_port), "root@127.0.0.1"],
            capture_output=True,
            timeout=10,
            check=False,
        )
        pid_file = self.host_dir(host.name) / "qemu.pid"
        pids = {host.pid} if host.pid else set()
        with contextlib.suppress(OSError, ValueError):
            pids.add(int(pid_file.read_text().strip()))
        for pid in pids:
            if pid and _pid_is_vm(pid, host.name):
                os.kill(pid, signal.SIGTERM)
                deadline = time.monotonic() + 15
                while _pid_is_vm(pid, host.name) and time.monotonic() < deadline:
                    time.sleep(0.1)
                if _pid_is_vm(pid, host.name):
                    os.kill(pid, signal.SIGKILL)
            child = _CHILDREN.pop(pid, None) if pid else None
            if child is not None:
                child.wait(timeout=15)
        host.pid = None
        if remove:
            shutil.rmtree(self.host_dir(host.name), ignore_errors=True)

    def stop_all(self) -> None:
        """Stop every VM but keep overlays and state: a later `up` boots them again."""
        hosts = self.hosts()
        for host in hosts.values():
            self._stop(host, remove=False)
        self._save_hosts(hosts)

    def down(self) -> list[str]:
        """Stop every VM of this lab by its PID file, remove overlays and the inventory."""
        stopped = []
        hosts = self.hosts()
        for host in hosts.values():
            was = self.is_running(host)
            self._stop(host, remove=True)
            if was:
                stopped.append(host.name)
        # PID files of hosts the state file lost track of.
        if self.state.is_dir():
            for pid_file in self.state.glob("*/qemu.pid"):
                name = pid_file.parent.name
                with contextlib.suppress(OSError, ValueError):
                    pid = int(pid_file.read_text().strip())
                    if _pid_is_vm(pid, name):
                        os.kill(pid, signal.SIGKILL)
                        stopped.append(name)
                shutil.rmtree(pid_file.parent, ignore_errors=True)
        self.state_file.unlink(missing_ok=True)
        shutil.rmtree(self.control_dir, ignore_errors=True)
        self.inventory.unlink(missing_ok=True)
        return stopped

    def reset(self, name: str) -> float:
        """Back to the pristine image: stop, new overlay, boot, wait for SSH. Seconds taken."""
        hosts = self.hosts()
        host = self.host(name)
        img = image_mod.Image(directory=Path(self.ssh_key()).parent, digest="")
        preset = presets.get(host.preset)
        accel = str(self._load().get("accel", "tcg"))
        started = time.monotonic()
        self._stop(host, remove=True)
        self._start(host, img, preset, accel)
        hosts[name] = host
        self._save_hosts(hosts)
        self.wait_ssh(name)
        host.tuning_nic = self._find_nic(host)
        host.boot_seconds = round(time.monotonic() - started, 1)
        self._save_hosts(hosts)
        return time.monotonic() - started

    def status(self) -> list[HostStatus]:
        out = []
        for host in self.hosts().values():
            running = self.is_running(host)
            out.append(
                HostStatus(
                    name=host.name,
                    preset=host.preset,
                    running=running,
                    pid=host.pid if running else None,
                    ssh_port=host.ssh_port,
                    tuning_nic=host.tuning_nic,
                    rss_mib=_rss_mib(host.pid) if running and host.pid else None,
                )
            )
        return out

    def write_inventory(self) -> Path:
        hosts = [
            inventory_mod.InventoryHost(
                name=h.name, ssh_port=h.ssh_port, tuning_nic=h.tuning_nic, preset=h.preset
            )
            for h in self.hosts().values()
        ]
        text = inventory_mod.render(hosts, ssh_key=self.ssh_key(), control_dir=self.control_dir)
        inventory_mod.write(self.inventory, text)
        return self.inventory

    def console(self, name: str) -> Path:
        self.host(name)
        return self.host_dir(name) / "serial.log"

    # -- SSH ------------------------------------------------------------------------------

    def _ssh_options(self) -> list[str]:
        return inventory_mod.ssh_options(self._make_control_dir())

    def ssh_argv(
        self,
        name: str,
        command: Sequence[str] | str | None = None,
        *,
        connect_timeout: float = 10,
    ) -> list[str]:
        host = self.host(name)
        argv = [
            "ssh",
            *self._ssh_options(),
            "-o", "BatchMode=yes",
            "-o", f"ConnectTimeout={connect_timeout:.0f}",
            "-i", str(self.ssh_key()),
            "-p", str(host.ssh_port),
            "root@127.0.0.1",
        ]  # fmt: skip
        if command is not None:
            argv += [command] if isinstance(command, str) else list(command)
        return argv

    def run(
        self, name: str, command: str, *, timeout: float = 120, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run a shell command in a lab VM; raise ColotuneError on failure if `check`."""
        try:
            proc = subprocess.run(
                self.ssh_argv(name, command),
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired as exc:
            raise ColotuneError(
                f"lab: {name}: {command!r} timed out after {timeout:.0f} s"
            ) from exc
        if check and proc.returncode != 0:
            raise ColotuneError(
                f"lab: {name}: {command!r} failed (exit {proc.returncode}): "
                f"{(proc.stderr or proc.stdout).strip()[-2000:]}"
            )
        return proc

    def copy_to(self, name: str, local: Path, remote: str, *, timeout: float = 120) -> None:
        """Copy a file or directory into the VM (tar over SSH)."""
        tar = subprocess.Popen(
            ["tar", "-C", str(local.parent), "-cf", "-", local.name], stdout=subprocess.PIPE
        )
        try:
            proc = subprocess.run(
                self.ssh_argv(name, f"mkdir -p {remote} && tar -C {remote} -xf -"),
                stdin=tar.stdout,
                capture_output=True,
                timeout=timeout,
                check=False,
            )
        finally:
            if tar.stdout:
                tar.stdout.close()
            tar.wait(timeout=timeout)
        if proc.returncode != 0:
            raise ColotuneError(f"lab: copy to {name}:{remote} failed: {proc.stderr.decode()}")

    def fetch(self, name: str, remote: str, local: Path, *, timeout: float = 120) -> None:
        """Copy one file out of the VM."""
        proc = subprocess.run(
            self.ssh_argv(name, f"cat {remote}"), capture_output=True, timeout=timeout, check=False
        )
        if proc.returncode != 0:
            raise ColotuneError(f"lab: fetch {name}:{remote} failed: {proc.stderr.decode()}")
        local.write_bytes(proc.stdout)

    def wait_ssh(self, name: str, *, timeout: float | None = None) -> float:
        """Wait until the VM answers SSH; fail at once if its qemu died. Seconds waited.

        Past `timeout` (default: per preset), a boot whose console is still moving, or
        that reached its login prompt, gets up to SSH_PROGRESS_FACTOR times as long: on
        a loaded host a software-emulated boot is slow, not stuck. The probe waits long
        for sshd's banner for the same reason."""
        host = self.host(name)
        limit = timeout or _ssh_limit(host.preset)
        cap = limit * SSH_PROGRESS_FACTOR
        serial = self.host_dir(name) / "serial.log"
        started = time.monotonic()
        extended = False
        while True:
            waited = time.monotonic() - started
            if waited >= limit:
                if waited >= cap or not console_progressing(serial):
                    raise ColotuneError(
                        f"lab: {name}: no SSH after {waited:.0f} s; {self._tail(name)}"
                    )
                if not extended:
                    extended = True
                    self.log(
                        f"lab: {name}: no SSH after {limit:.0f} s, but its console is still "
                        f"moving (a loaded host?); waiting up to {cap:.0f} s"
                    )
            if not self.is_running(host):
                raise ColotuneError(f"lab: {name}: qemu exited during boot; {self._tail(name)}")
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc = subprocess.run(
                    self.ssh_argv(name, "true", connect_timeout=SSH_PROBE_TIMEOUT),
                    capture_output=True,
                    timeout=SSH_PROBE_TIMEOUT + 30,
                    check=False,
                    stdin=subprocess.DEVNULL,
                )
                if proc.returncode == 0:
                    return time.monotonic() - started
            time.sleep(1.0)

    def _tail(self, name: str) -> str:
        d = self.host_dir(name)
        parts = []
        for fname in ("qemu.log", "serial.log"):
            with contextlib.suppress(OSError):
                lines = (d / fname).read_text(errors="replace").splitlines()[-8:]
                parts.append(f"last lines of {d / fname}:\n" + "\n".join(lines))
        return "\n".join(parts)

    def boot_id(self, name: str) -> str:
        return self.run(name, "cat /proc/sys/kernel/random/boot_id").stdout.strip()

    def reboot(self, name: str, *, timeout: float | None = None) -> float:
        """Reboot the guest (through SeaBIOS and GRUB) and wait until SSH answers from the
        new boot. Seconds from the reboot command to SSH."""
        before = self.boot_id(name)
        started = time.monotonic()
        self.run(name, "systemctl reboot", check=False, timeout=30)
        host = self.host(name)
        # The old connection master dies with the guest's sshd.
        subprocess.run(
            ["ssh", *self._ssh_options(), "-O", "exit", "-p", str(host.ssh_port), "root@127.0.0.1"],
            capture_output=True,
            timeout=10,
            check=False,
        )
        limit = timeout or _ssh_limit(host.preset)
        while time.monotonic() - started < limit:
            self.wait_ssh(name, timeout=limit)
            proc = self.run(name, "cat /proc/sys/kernel/random/boot_id", check=False, timeout=30)
            if proc.returncode == 0 and proc.stdout.strip() not in ("", before):
                return time.monotonic() - started
            time.sleep(1.0)
        raise ColotuneError(f"lab: {name}: did not come back from reboot in {limit:.0f} s")

    def _find_nic(self, host: HostState) -> str | None:
        """The trading NIC's interface name inside the guest, found by its MAC."""
        script = (
            "for d in /sys/class/net/*; do "
            f'[ "$(cat $d/address)" = "{host.trade_mac}" ] && echo ${{d##*/}}; done; true'
        )
        out = self.run(host.name, script).stdout.strip()
        return out or None


def _create_overlay(base: Path, overlay: Path) -> None:
    overlay.unlink(missing_ok=True)
    proc = subprocess.run(
        ["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", str(base), str(overlay)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise ColotuneError(f"lab: cannot create overlay {overlay}: {proc.stderr.strip()}")


def console_progressing(serial_log: Path, *, now: float | None = None) -> bool:
    """Is a booting guest still making progress? Its serial console was written within
    CONSOLE_QUIET_LIMIT seconds, or shows the login prompt (getty is up, sshd is near)."""
    try:
        stat = serial_log.stat()
        with serial_log.open("rb") as f:
            f.seek(max(0, stat.st_size - 4096))
            tail = f.read().decode(errors="replace")
    except OSError:
        return False
    if (now if now is not None else time.time()) - stat.st_mtime < CONSOLE_QUIET_LIMIT:
        return True
    return " login: " in tail or tail.rstrip().endswith("login:")


def _ssh_limit(preset_name: str) -> float:
    """How long a boot may take to SSH: generous under TCG, where vCPUs share host cores."""
    return max(SSH_TIMEOUT_MIN, SSH_TIMEOUT_PER_VCPU * presets.get(preset_name).vcpus)


def record_topology(lab: Lab, name: str, out: Path) -> None:
    """Record a lab VM's topology with colotune's own recorder run inside the guest
    (a copy of the colotune package, guest python3 only), and copy the tarball out."""
    package = Path(__file__).resolve().parents[1]
    lab.run(name, "rm -rf /tmp/colotune-rec && mkdir -p /tmp/colotune-rec")
    lab.copy_to(name, package, "/tmp/colotune-rec")
    lab.run(
        name,
        "cd /tmp && PYTHONPATH=/tmp/colotune-rec python3 -m colotune.host.topology "
        "/tmp/colotune-rec/topology.tar.gz",
        timeout=300,
    )
    lab.fetch(name, "/tmp/colotune-rec/topology.tar.gz", out)
    lab.run(name, "rm -rf /tmp/colotune-rec")
