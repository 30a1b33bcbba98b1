"""A throwaway OpenSSH server on loopback ports, for the audit and testinfra tests and benchmark.

`LoopbackSshd(tmp, ports=N)` writes its own sshd_config, host key and client
key under `tmp`, starts sshd listening on N loopback ports (N endpoints; one
sshd per 16 ports, OpenSSH's limit of listen sockets), waits until every port
accepts connections, and stops each sshd by PID. Nothing
outside `tmp` is touched; the client side gets an ssh_config and Ansible
connection variables that turn host-key checking off for these throwaway
endpoints. Logins get HOME=<tmp>/home (sshd's SetEnv): Debian's bash sources
~/.bashrc for every command sshd runs, and a development machine's root
.bashrc (pyenv init: 90 ms of CPU per command) is no part of what is tested.
"""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"
PORTS_PER_SSHD = 16  # MAX_LISTEN_SOCKS in OpenSSH


def free_ports(count: int) -> list[int]:
    """Loopback ports free right now (bound then released)."""
    sockets, ports = [], []
    for _ in range(count):
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sockets.append(sock)
        ports.append(sock.getsockname()[1])
    for sock in sockets:
        sock.close()
    return ports


class LoopbackSshd:
    PYTHON = "/usr/bin/python3"  # the endpoints' interpreter (Debian's, as on a fleet host)

    def __init__(self, tmp: Path, *, ports: int = 1) -> None:
        self.dir = tmp
        self.ports = free_ports(ports)
        self.host_key = tmp / "ssh_host_ed25519_key"
        self.client_key = tmp / "id_ed25519"
        self.client_config = tmp / "ssh_config"
        self.home = tmp / "home"
        self.log = tmp / "sshd.log"
        self.user = getpass.getuser()
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self, timeout: float = 15.0) -> LoopbackSshd:
        if not Path(SSHD).exists():
            raise RuntimeError("sshd is not installed (apt-get install openssh-server)")
        for key in (self.host_key, self.client_key):
            key.unlink(missing_ok=True)
            Path(f"{key}.pub").unlink(missing_ok=True)
            subprocess.run(
                ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True
            )
        self.home.mkdir(exist_ok=True)
        authorized = self.dir / "authorized_keys"
        authorized.write_text(Path(f"{self.client_key}.pub").read_text())
        authorized.chmod(0o600)
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # privilege separation directory
        common = [
            f"HostKey {self.host_key}",
            f"AuthorizedKeysFile {authorized}",
            "StrictModes no",
            "UsePAM no",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "PubkeyAuthentication yes",
            "PermitRootLogin prohibit-password",
            f"MaxStartups {max(10, 4 * len(self.ports))}",
            "MaxSessions 50",
            "LogLevel ERROR",
            "Subsystem sftp internal-sftp",
            f"SetEnv HOME={self.home}",
        ]
        self.client_config.write_text(
            "Host *\n"
            "  StrictHostKeyChecking no\n"
            "  UserKnownHostsFile /dev/null\n"
            "  LogLevel ERROR\n"
            f"  IdentityFile {self.client_key}\n"
            f"  User {self.user}\n"
            f"  ControlPath {self.dir}/cm-%C\n"
            "  ControlMaster auto\n"
            "  ControlPersist 60\n"
        )
        for index in range(0, len(self.ports), PORTS_PER_SSHD):
            chunk = self.ports[index : index + PORTS_PER_SSHD]
            config = self.dir / f"sshd_config.{index // PORTS_PER_SSHD}"
            lines = [f"ListenAddress 127.0.0.1:{port}" for port in chunk]
            lines.append(f"PidFile {self.dir / f'sshd.{index // PORTS_PER_SSHD}.pid'}")
            config.write_text("\n".join(lines + common) + "\n")
            with self.log.open("ab") as log:
                self.processes.append(
                    subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stdout=log, stderr=log)
                )
        deadline = time.monotonic() + timeout
        waiting = set(self.ports)
        while waiting:
            if any(p.poll() is not None for p in self.processes):
                self.stop()
                raise RuntimeError(f"sshd exited: {self.log.read_text()[-2000:]}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"sshd ports {sorted(waiting)} not accepting within {timeout} s")
            for port in list(waiting):
                with socket.socket() as probe:
                    probe.settimeout(0.2)
                    if probe.connect_ex(("127.0.0.1", port)) == 0:
                        waiting.discard(port)
            if waiting:
                time.sleep(0.05)  # polling a condition with a deadline, not a fixed wait
        return self

    @property
    def running(self) -> bool:
        return any(p.poll() is None for p in self.processes)

    def stop(self) -> None:
        """Stop every sshd this object started, by PID (SIGTERM, then SIGKILL after 10 s)."""
        for process in self.processes:
            if process.poll() is None:
                os.kill(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        self.processes = []

    def host_vars(self, index: int = 0, *, name: str | None = None) -> dict[str, Any]:
        """Ansible connection variables for endpoint `index`."""
        return {
            "inventory_hostname": name or f"loop{index}",
            "ansible_host": "127.0.0.1",
            "ansible_port": self.ports[index],
            "ansible_user": self.user,
            "ansible_ssh_private_key_file": str(self.client_key),
            "ansible_ssh_common_args": "-o StrictHostKeyChecking=no "
            "-o UserKnownHostsFile=/dev/null",
            "ansible_python_interpreter": self.PYTHON,
        }

    def __enter__(self) -> LoopbackSshd:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
