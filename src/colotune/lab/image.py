"""Build the lab's Debian disk image from Debian packages only, once, cached by recipe hash.

Steps (root is needed for debootstrap):
1. debootstrap --make-tarball: the .deb files of the recipe's packages, kept in
   <cache>/debs/ so a rebuild does not download them again;
2. debootstrap --unpack-tarball into a scratch root, then the lab's files (SSH key,
   boot script, trimmed services, GRUB settings) are written into it;
3. a raw disk with one partition; the file system is written at the partition's
   offset with `mkfs.ext4 -d` (loop devices here have no partitions);
4. a first boot of that disk under qemu (direct kernel boot, used only here) runs
   grub-install and update-grub inside the guest, then powers off;
5. the disk is converted to qcow2: <cache>/images/<hash>/disk.qcow2.
Every lab VM then boots that image's overlay through SeaBIOS and GRUB.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from colotune.errors import ColotuneError

# Bump when the build procedure changes in a way the recipe text does not show.
BUILD_VERSION = 5

PACKAGES = (
    "systemd",
    "systemd-sysv",
    "udev",
    "openssh-server",
    "python3",
    "linux-image-amd64",
    "grub-pc",
    "ethtool",
    "linuxptp",
    "irqbalance",
    "iproute2",
    "kmod",
    "procps",
)

DISK_SIZE_MIB = 4096
PART_OFFSET = 1024 * 1024
FS_LABEL = "labroot"
# The management NIC has the same MAC in every VM (each VM has its own user-mode network).
MGMT_MAC = "52:54:00:c0:17:01"
TRADE_MAC_PREFIX = "52:54:00:c0:17:"

# Services a trading host's lab stand-in does not need; masking them shortens a TCG boot.
MASKED_UNITS = (
    "apt-daily.timer",
    "apt-daily-upgrade.timer",
    "dpkg-db-backup.timer",
    "e2scrub_all.timer",
    "e2scrub_reap.service",
    "fstrim.timer",
    "systemd-networkd-wait-online.service",
    "getty@tty1.service",
    "systemd-timesyncd.service",
    "console-getty.service",
    "getty-static.service",
)

# Modules udev would load for emulated hardware a lab VM does not use (each costs
# seconds under TCG: kvm for the emulated SVM/VMX, ...). acpi_cpufreq is not one of them:
# the lab's P-state table (colotune.lab.acpi) gives it something to drive.
BLACKLIST = "".join(
    f"blacklist {m}\n"
    for m in (
        "kvm", "kvm_amd", "kvm_intel", "powernow_k8", "pcspkr", "iTCO_wdt",
        "iTCO_vendor_support", "i2c_i801", "lpc_ich", "ahci", "libahci", "joydev", "evdev",
    )
)  # fmt: skip

# The lab's shell and unit files live in guest/ as real files (shellcheck reads them there).
GUEST_DIR = Path(__file__).parent / "guest"

# The lab's NICs: where qemu puts them (colotune.lab.qemu) and the names the image's
# .link files pin to those PCI addresses, so a NIC has one name on every boot.
PXB_BUS_NR = 128  # bus of the NUMA-affine PCI expander bridge; its root port's bus is +1
MGMT_PCI_SLOT = 3
MGMT_NIC = "enp0s3"
MGMT_PCI = f"0000:00:{MGMT_PCI_SLOT:02x}.0"
TRADE_NIC = "ens1"
TRADE_PCI = f"0000:{PXB_BUS_NR + 1:02x}:00.0"


def link_file(pci: str, name: str) -> str:
    """A systemd .link file that names the NIC at PCI address `pci` `name`."""
    return (
        f"# colotune lab: the NIC at PCI {pci} is always {name}.\n"
        f"[Match]\nPath=pci-{pci}\n\n[Link]\nName={name}\n"
    )


BOOT_ENV = f"""# colotune lab: what colotune-lab-boot configures.
MGMT_NIC={MGMT_NIC}
MGMT_ADDR=10.0.2.15/24
MGMT_GATEWAY=10.0.2.2
TRADE_NICS={TRADE_NIC}
NIC_WAIT_S=300
SERIAL_FILE=/sys/class/dmi/id/product_serial
CONSOLE=/dev/console
"""


def _guest(name: str) -> str:
    return (GUEST_DIR / name).read_text()


GRUB_DEFAULTS = """# colotune lab: boot at once, console on the serial port (the VM's serial log).
# Roles add their own files after this one; keep console=ttyS0 in GRUB_CMDLINE_LINUX.
GRUB_TIMEOUT=0
GRUB_TIMEOUT_STYLE=hidden
GRUB_TERMINAL=serial
GRUB_SERIAL_COMMAND="serial --unit=0 --speed=115200"
GRUB_CMDLINE_LINUX="console=ttyS0,115200n8"
GRUB_CMDLINE_LINUX_DEFAULT=""
GRUB_DISABLE_OS_PROBER=true
"""

SSHD_CONFIG = """# colotune lab: key-only root login, no DNS lookups (slow under emulation).
PermitRootLogin prohibit-password
PasswordAuthentication no
UseDNS no
"""

MODULES_LOAD = """# colotune lab: the cpufreq driver of the P-states that the lab's ACPI table
# declares (colotune.lab.acpi); it does not load by itself in a guest.
acpi-cpufreq
"""

FSTAB = f"LABEL={FS_LABEL} / ext4 defaults,noatime,errors=remount-ro 0 1\n"


@dataclass(frozen=True)
class Recipe:
    """Everything that decides the image's content; its hash names the cached image."""

    suite: str
    mirror: str
    packages: tuple[str, ...] = PACKAGES
    masked_units: tuple[str, ...] = MASKED_UNITS
    files: dict[str, str] = field(
        default_factory=lambda: {
            "/usr/local/sbin/colotune-lab-boot": _guest("colotune-lab-boot.sh"),
            "/etc/default/colotune-lab": BOOT_ENV,
            "/etc/systemd/system/colotune-lab-boot.service": _guest("colotune-lab-boot.service"),
            "/etc/systemd/network/10-colotune-lab-mgmt.link": link_file(MGMT_PCI, MGMT_NIC),
            "/etc/systemd/network/10-colotune-lab-trade.link": link_file(TRADE_PCI, TRADE_NIC),
            "/usr/local/sbin/colotune-lab-firstboot": _guest("colotune-lab-firstboot.sh"),
            "/etc/default/grub.d/00-colotune-lab.cfg": GRUB_DEFAULTS,
            "/etc/ssh/sshd_config.d/colotune-lab.conf": SSHD_CONFIG,
            "/etc/fstab": FSTAB,
            "/etc/initramfs-tools/conf.d/colotune-lab": "MODULES=dep\n",
            "/etc/modprobe.d/colotune-lab.conf": BLACKLIST,
            "/etc/modules-load.d/colotune-lab.conf": MODULES_LOAD,
        }
    )
    disk_size_mib: int = DISK_SIZE_MIB

    def to_json(self) -> str:
        data = {
            "build_version": BUILD_VERSION,
            "suite": self.suite,
            "mirror": self.mirror,
            "packages": list(self.packages),
            "masked_units": list(self.masked_units),
            "files": dict(sorted(self.files.items())),
            "disk_size_mib": self.disk_size_mib,
        }
        return json.dumps(data, indent=1, sort_keys=True)

    def digest(self) -> str:
        return hashlib.sha256(self.to_json().encode()).hexdigest()[:16]

    def debs_digest(self) -> str:
        """The package download depends only on suite, mirror and package list."""
        text = json.dumps([self.suite, self.mirror, list(self.packages)])
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def host_suite(os_release: Path = Path("/etc/os-release")) -> str:
    """The Debian suite this machine runs (the image matches it), e.g. bookworm."""
    try:
        text = os_release.read_text()
    except OSError:
        return "bookworm"
    match = re.search(r"^VERSION_CODENAME=\"?([a-z]+)\"?$", text, re.M)
    return match.group(1) if match else "bookworm"


def parse_apt_sources(texts: list[tuple[str, str]], suite: str) -> str | None:
    """The first Debian mirror URI serving `suite` main, from (filename, text) pairs.

    Understands one-line `.list` entries and deb822 `.sources` stanzas; skips the
    security archive and disabled stanzas.
    """
    for name, text in texts:
        if name.endswith(".sources"):
            for stanza in re.split(r"\n\s*\n", text):
                fields: dict[str, str] = {}
                for line in stanza.splitlines():
                    if line.startswith("#") or ":" not in line:
                        continue
                    key, _, value = line.partition(":")
                    fields[key.strip().lower()] = value.strip()
                if fields.get("enabled", "yes").lower() == "no":
                    continue
                if "deb" not in fields.get("types", "").split():
                    continue
                if suite not in fields.get("suites", "").split():
                    continue
                if "main" not in fields.get("components", "").split():
                    continue
                for uri in fields.get("uris", "").split():
                    if "security" not in uri:
                        return uri.rstrip("/")
        else:
            for line in text.splitlines():
                words = re.sub(r"\[[^]]*\]", "", line).split()
                if (
                    len(words) >= 4
                    and words[0] == "deb"
                    and words[2] == suite
                    and "main" in words[3:]
                    and "security" not in words[1]
                ):
                    return words[1].rstrip("/")
    return None


def host_mirror(suite: str) -> str:
    """The Debian mirror this machine's apt uses ($COLOTUNE_LAB_MIRROR overrides)."""
    if os.environ.get("COLOTUNE_LAB_MIRROR"):
        return os.environ["COLOTUNE_LAB_MIRROR"].rstrip("/")
    texts: list[tuple[str, str]] = []
    candidates = [Path("/etc/apt/sources.list")]
    candidates += sorted(Path("/etc/apt/sources.list.d").glob("*.list"))
    candidates += sorted(Path("/etc/apt/sources.list.d").glob("*.sources"))
    for path in candidates:
        try:
            texts.append((path.name, path.read_text()))
        except OSError:
            continue
    return parse_apt_sources(texts, suite) or "http://deb.debian.org/debian"


def default_recipe() -> Recipe:
    suite = host_suite()
    return Recipe(suite=suite, mirror=host_mirror(suite))


@dataclass(frozen=True)
class Image:
    """A built image in the cache: the disk, the SSH key that opens it, its recipe hash."""

    directory: Path
    digest: str

    @property
    def disk(self) -> Path:
        return self.directory / "disk.qcow2"

    @property
    def ssh_key(self) -> Path:
        return self.directory / "id_ed25519"

    def exists(self) -> bool:
        return self.disk.is_file() and self.ssh_key.is_file() and (self.directory / "ok").is_file()


def image_for(cache: Path, recipe: Recipe) -> Image:
    digest = recipe.digest()
    return Image(directory=cache / "images" / digest, digest=digest)


Log = Callable[[str], None]


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _run(argv: list[str], *, log_file: Path, timeout: float = 1800) -> None:
    with log_file.open("a") as out:
        out.write(f"$ {' '.join(argv)}\n")
        out.flush()
        try:
            proc = subprocess.run(
                argv, stdout=out, stderr=subprocess.STDOUT, timeout=timeout, check=False
            )
        except FileNotFoundError as exc:
            raise ColotuneError(
                f"lab image: {argv[0]} is not installed (scripts/install installs it)"
            ) from exc
    if proc.returncode != 0:
        tail = "".join(log_file.read_text(errors="replace").splitlines(True)[-15:])
        raise ColotuneError(
            f"lab image: {' '.join(argv[:3])} ... failed (exit {proc.returncode}); "
            f"log {log_file}:\n{tail}"
        )


def ensure_image(
    cache: Path,
    *,
    recipe: Recipe | None = None,
    debs_dir: Path | None = None,
    log: Log = _stderr,
) -> Image:
    """The cached image for `recipe`, built first if missing (a changed recipe rebuilds)."""
    recipe = recipe or default_recipe()
    image = image_for(cache, recipe)
    if image.exists():
        return image
    if os.geteuid() != 0:
        raise ColotuneError("lab image: building the image needs root (debootstrap, chroot)")
    build_image(cache, recipe=recipe, debs_dir=debs_dir, log=log)
    return image


def build_image(
    cache: Path,
    *,
    recipe: Recipe,
    debs_dir: Path | None = None,
    log: Log = _stderr,
) -> Image:
    image = image_for(cache, recipe)
    debs_dir = debs_dir or cache / "debs"
    debs_dir.mkdir(parents=True, exist_ok=True)
    (cache / "images").mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f"build-{image.digest}-", dir=cache / "images"))
    log_file = work / "build.log"
    started = time.monotonic()
    try:
        debs = debs_dir / f"debs-{recipe.debs_digest()}.tgz"
        if not debs.is_file():
            log(f"lab image: downloading packages from {recipe.mirror} ({recipe.suite})")
            partial = debs.with_suffix(".tgz.partial")
            _debootstrap(recipe, work / "dl", ["--make-tarball", str(partial)], log_file)
            partial.rename(debs)
        log(f"lab image: unpacking Debian {recipe.suite} (debootstrap)")
        rootfs = work / "rootfs"
        _debootstrap(recipe, rootfs, ["--unpack-tarball", str(debs.resolve())], log_file)
        log("lab image: configuring the guest")
        _configure(rootfs, recipe, work, log_file)
        kernel, initrd = _boot_files(rootfs, work)
        log("lab image: writing the disk")
        raw = work / "disk.raw"
        _make_disk(rootfs, raw, recipe, log_file)
        shutil.rmtree(rootfs)
        log("lab image: first boot (installs GRUB inside the guest)")
        _first_boot(raw, kernel, initrd, work, log_file)
        log("lab image: converting to qcow2")
        _run(
            ["qemu-img", "convert", "-O", "qcow2", str(raw), str(work / "disk.qcow2")],
            log_file=log_file,
        )
        raw.unlink()
        (work / "recipe.json").write_text(recipe.to_json())
        for name in ("kernel", "initrd"):
            (work / name).unlink(missing_ok=True)
        (work / "ok").write_text(f"built in {time.monotonic() - started:.0f} s\n")
        if image.directory.exists():
            shutil.rmtree(image.directory)
        work.rename(image.directory)
    except BaseException:
        keep = cache / "images" / "last-failed-build.log"
        if log_file.exists():
            shutil.copy(log_file, keep)
        shutil.rmtree(work, ignore_errors=True)
        raise
    log(f"lab image: ready in {time.monotonic() - started:.0f} s: {image.disk}")
    return image


def _debootstrap(recipe: Recipe, target: Path, extra: list[str], log_file: Path) -> None:
    argv = [
        "debootstrap",
        "--variant=minbase",
        "--include=" + ",".join(recipe.packages),
        *extra,
        recipe.suite,
        str(target),
        recipe.mirror,
    ]
    _run(argv, log_file=log_file)


def _configure(rootfs: Path, recipe: Recipe, work: Path, log_file: Path) -> None:
    for rel, text in recipe.files.items():
        path = rootfs / rel.lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        if rel.startswith("/usr/local/sbin/"):
            path.chmod(0o755)
    key = work / "id_ed25519"
    _run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "colotune-lab", "-f", str(key)],
        log_file=log_file,
    )
    ssh_dir = rootfs / "root" / ".ssh"
    ssh_dir.mkdir(mode=0o700, exist_ok=True)
    (ssh_dir / "authorized_keys").write_text(key.with_suffix(".pub").read_text())
    (ssh_dir / "authorized_keys").chmod(0o600)
    (rootfs / "etc" / "hostname").write_text("lab\n")
    (rootfs / "etc" / "hosts").write_text("127.0.0.1 localhost\n")
    # Each VM gets its own machine id on first boot of its overlay.
    (rootfs / "etc" / "machine-id").write_text("")
    (rootfs / "var/lib/dbus/machine-id").unlink(missing_ok=True)
    systemd = rootfs / "etc" / "systemd" / "system"
    wants = systemd / "multi-user.target.wants"
    wants.mkdir(parents=True, exist_ok=True)
    link = wants / "colotune-lab-boot.service"
    link.unlink(missing_ok=True)
    link.symlink_to("/etc/systemd/system/colotune-lab-boot.service")
    for unit in recipe.masked_units:
        target = systemd / unit
        target.unlink(missing_ok=True)
        target.symlink_to("/dev/null")
    # Less journal work under emulation.
    journald = rootfs / "etc" / "systemd" / "journald.conf.d"
    journald.mkdir(parents=True, exist_ok=True)
    (journald / "colotune-lab.conf").write_text("[Journal]\nStorage=volatile\n")
    (rootfs / "var" / "cache" / "apt" / "archives").mkdir(parents=True, exist_ok=True)
    for deb in (rootfs / "var" / "cache" / "apt" / "archives").glob("*.deb"):
        deb.unlink()


def _boot_files(rootfs: Path, work: Path) -> tuple[Path, Path]:
    kernels = sorted((rootfs / "boot").glob("vmlinuz-*"))
    initrds = sorted((rootfs / "boot").glob("initrd.img-*"))
    if not kernels or not initrds:
        raise ColotuneError(f"lab image: no kernel/initrd in {rootfs / 'boot'} after debootstrap")
    kernel, initrd = work / "kernel", work / "initrd"
    shutil.copy(kernels[-1], kernel)
    shutil.copy(initrds[-1], initrd)
    return kernel, initrd


def mbr(*, start_sector: int, sectors: int) -> bytes:
    """A DOS partition table with one bootable Linux partition (LBA addressing only)."""
    entry = struct.pack(
        "<B3sB3sII",
        0x80,  # bootable
        b"\xfe\xff\xff",  # CHS start: beyond CHS range, LBA is used
        0x83,  # Linux
        b"\xfe\xff\xff",
        start_sector,
        sectors,
    )
    sector = bytearray(512)
    sector[440:444] = b"CLab"  # disk signature
    sector[446:462] = entry
    sector[510:512] = b"\x55\xaa"
    return bytes(sector)


def _make_disk(rootfs: Path, raw: Path, recipe: Recipe, log_file: Path) -> None:
    size = recipe.disk_size_mib * 1024 * 1024
    with raw.open("wb") as fh:
        fh.truncate(size)
    with raw.open("r+b") as fh:
        fh.write(mbr(start_sector=PART_OFFSET // 512, sectors=(size - PART_OFFSET) // 512))
    fs_kib = (size - PART_OFFSET) // 1024
    _run(
        [
            "mkfs.ext4",
            "-q",
            "-F",
            "-L",
            FS_LABEL,
            "-d",
            str(rootfs),
            "-E",
            f"offset={PART_OFFSET}",
            str(raw),
            f"{fs_kib}k",
        ],
        log_file=log_file,
    )


def _first_boot(raw: Path, kernel: Path, initrd: Path, work: Path, log_file: Path) -> None:
    serial = work / "firstboot-serial.log"
    argv = [
        "qemu-system-x86_64",
        "-machine",
        "q35",
        "-accel",
        "tcg",
        "-cpu",
        "max",
        "-smp",
        "2",
        "-m",
        "1024",
        "-display",
        "none",
        "-no-reboot",
        "-nic",
        "none",
        "-drive",
        f"file={raw},format=raw,if=virtio,cache=unsafe",
        "-kernel",
        str(kernel),
        "-initrd",
        str(initrd),
        "-append",
        f"root=LABEL={FS_LABEL} rw console=ttyS0,115200n8 "
        "init=/usr/local/sbin/colotune-lab-firstboot",
        "-serial",
        f"file:{serial}",
    ]
    _run(argv, log_file=log_file, timeout=900)
    text = serial.read_text(errors="replace") if serial.exists() else ""
    if "COLOTUNE-FIRSTBOOT-OK" not in text:
        tail = "".join(text.splitlines(True)[-20:])
        raise ColotuneError(f"lab image: GRUB install in the first boot failed:\n{tail}")
