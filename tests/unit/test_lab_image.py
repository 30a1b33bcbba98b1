"""The image recipe: its hash decides when the cached image is rebuilt; mirror detection."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from colotune.lab import image


def test_recipe_hash_is_stable_and_changes_with_the_recipe() -> None:
    a = image.Recipe(suite="bookworm", mirror="http://deb.debian.org/debian")
    b = image.Recipe(suite="bookworm", mirror="http://deb.debian.org/debian")
    assert a.digest() == b.digest()
    more = dataclasses.replace(a, packages=(*a.packages, "chrony"))
    assert more.digest() != a.digest()
    files = dict(a.files)
    files["/etc/motd"] = "hello\n"
    assert dataclasses.replace(a, files=files).digest() != a.digest()
    # The package download only depends on suite, mirror and packages.
    assert dataclasses.replace(a, files=files).debs_digest() == a.debs_digest()
    assert more.debs_digest() != a.debs_digest()


def test_recipe_has_what_the_issue_asks_for() -> None:
    r = image.Recipe(suite="bookworm", mirror="http://m")
    for pkg in (
        "systemd", "udev", "openssh-server", "python3", "linux-image-amd64", "grub-pc",
        "ethtool", "linuxptp", "irqbalance", "iproute2",
    ):  # fmt: skip
        assert pkg in r.packages
    assert "console=ttyS0" in r.files["/etc/default/grub.d/00-colotune-lab.cfg"]


def test_image_paths_are_keyed_by_the_recipe_hash(tmp_path: Path) -> None:
    r = image.Recipe(suite="bookworm", mirror="http://m")
    img = image.image_for(tmp_path, r)
    assert img.disk == tmp_path / "images" / r.digest() / "disk.qcow2"
    assert not img.exists()


def test_mirror_from_deb822_sources_skips_security_and_disabled() -> None:
    text = """Types: deb
URIs: http://mirror.example/debian
Suites: bookworm bookworm-updates
Components: main
Enabled: no

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm
Components: main

Types: deb
URIs: http://deb.debian.org/debian/
Suites: bookworm bookworm-updates
Components: main contrib
"""
    assert image.parse_apt_sources([("debian.sources", text)], "bookworm") == (
        "http://deb.debian.org/debian"
    )


def test_mirror_from_one_line_list_with_options() -> None:
    text = (
        "# comment\n"
        "deb [arch=amd64 signed-by=/k.gpg] http://ftp.de.debian.org/debian bookworm main\n"
    )
    assert image.parse_apt_sources([("sources.list", text)], "bookworm") == (
        "http://ftp.de.debian.org/debian"
    )
    assert image.parse_apt_sources([("sources.list", text)], "trixie") is None


def test_suite_from_os_release(tmp_path: Path) -> None:
    f = tmp_path / "os-release"
    f.write_text('NAME="Debian GNU/Linux"\nVERSION_CODENAME=trixie\n')
    assert image.host_suite(f) == "trixie"
    assert image.host_suite(tmp_path / "missing") == "bookworm"


def test_mbr_has_one_bootable_linux_partition_at_the_offset() -> None:
    sector = image.mbr(start_sector=2048, sectors=1000)
    assert len(sector) == 512
    assert sector[510:] == b"\x55\xaa"
    entry = sector[446:462]
    assert entry[0] == 0x80
    assert entry[4] == 0x83
    assert int.from_bytes(entry[8:12], "little") == 2048
    assert int.from_bytes(entry[12:16], "little") == 1000
    assert sector[462:510] == bytes(48)


def test_link_files_pin_the_names_at_the_pci_addresses_qemu_gives_the_nics() -> None:
    from colotune.lab import presets, qemu

    files = image.Recipe(suite="bookworm", mirror="http://m").files
    links = {
        line.split("=", 1)[1]: text.split("Name=", 1)[1].strip()
        for path, text in files.items()
        if path.startswith("/etc/systemd/network/") and path.endswith(".link")
        for line in text.splitlines()
        if line.startswith("Path=")
    }
    spec = qemu.VmSpec(
        name="lab1", index=1, preset=presets.get("2s4c2t"), disk=Path("d"), ssh_port=1,
        serial_log=Path("s"), qmp_socket=Path("q"), pid_file=Path("p"), accel="tcg",
    )  # fmt: skip
    devices = [a for i, a in enumerate(qemu.build_argv(spec)) if i and "netdev=" in a]
    mgmt = next(d for d in devices if "netdev=mgmt" in d)
    slot = int(next(o for o in mgmt.split(",") if o.startswith("addr="))[5:], 16)
    pxb = next(d for d in qemu.build_argv(spec) if d.startswith("pxb-pcie,"))
    bus = int(next(o for o in pxb.split(",") if o.startswith("bus_nr="))[7:])
    # the root port behind the expander bridge is bus_nr; the NIC behind it is on the next bus
    assert links == {
        f"pci-0000:00:{slot:02x}.0": image.MGMT_NIC,
        f"pci-0000:{bus + 1:02x}:00.0": image.TRADE_NIC,
    }
    env = files["/etc/default/colotune-lab"]
    assert f"MGMT_NIC={image.MGMT_NIC}\n" in env and f"TRADE_NICS={image.TRADE_NIC}\n" in env
