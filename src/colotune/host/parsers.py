"""Pure parsers of what the collector reads: command output and /proc text in, plain data out.

Standard library only: the collector ships this module to the target too.
Every parser is tested against outputs recorded on real machines
(tests/fixtures/facts/). A value a driver reports as "n/a" parses as None,
which the controls read as "this driver does not support it".
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from typing import Any

from colotune.host import cpulist

_NUMBER = re.compile(r"^-?\d+$")


def _digits(text: str) -> bool:
    """ASCII digits only: str.isdigit() also takes characters int() refuses ("²")."""
    return text.isascii() and text.isdigit()


def _value(text: str) -> int | bool | str | None:
    text = text.strip()
    if text in ("n/a", ""):
        return None
    if text == "on":
        return True
    if text == "off":
        return False
    if _NUMBER.match(text):
        return int(text)
    return text


def parse_cmdline(text: str) -> list[str]:
    """/proc/cmdline as a list of arguments (double-quoted values kept whole, quotes removed)."""
    try:
        return shlex.split(text)
    except ValueError:  # an unbalanced quote: fall back to whitespace
        return text.split()


def parse_ethtool_coalesce(text: str) -> dict[str, int | bool | str | None]:
    """`ethtool -c IFACE`: {"adaptive-rx": False, "rx-usecs": 0, ...}; "n/a" -> None.

    Output without the "Coalesce parameters" heading (an error such as "netlink error:
    Operation not supported") parses as {}.
    """
    result: dict[str, int | bool | str | None] = {}
    if "Coalesce parameters" not in text:
        return result
    for line in text.splitlines():
        line = line.strip()
        pair = re.match(r"^(Adaptive|CQE mode)\s+RX:\s*(\S+)\s+TX:\s*(\S+)", line)
        if pair:
            prefix = "adaptive" if pair.group(1) == "Adaptive" else "cqe-mode"
            result[f"{prefix}-rx"] = _value(pair.group(2))
            result[f"{prefix}-tx"] = _value(pair.group(3))
            continue
        if ":" not in line or line.startswith("Coalesce parameters"):
            continue
        key, _, value = line.partition(":")
        result[key.strip()] = _value(value)
    return result


def parse_ethtool_rings(text: str) -> dict[str, dict[str, int | bool | str | None]]:
    """`ethtool -g IFACE`: {"max": {"RX": 4096, ...}, "current": {"RX": 256, ...}}.

    Newer ethtool prints the two blocks without their headings; the second
    occurrence of a key then belongs to the current settings.
    """
    result: dict[str, dict[str, int | bool | str | None]] = {"max": {}, "current": {}}
    section = "max"
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("Pre-set maximums"):
            section = "max"
            continue
        if stripped.startswith("Current hardware settings"):
            section = "current"
            continue
        if ":" not in stripped or stripped.startswith("Ring parameters"):
            continue
        key, _, value = stripped.partition(":")
        key = key.strip()
        if key in result[section] and section == "max":
            section = "current"
        result[section][key] = _value(value)
    return result


def parse_ethtool_features(text: str) -> dict[str, dict[str, bool]]:
    """`ethtool -k IFACE`: {"rx-checksumming": {"on": True, "fixed": False}, ...}."""
    result: dict[str, dict[str, bool]] = {}
    for line in text.splitlines():
        match = re.match(r"^\s*([\w-]+):\s+(on|off)(\s+\[fixed\])?", line)
        if match:
            result[match.group(1)] = {"on": match.group(2) == "on", "fixed": bool(match.group(3))}
    return result


def parse_ethtool_timestamping(text: str) -> dict[str, Any]:
    """`ethtool -T IFACE`: capabilities, PHC index, TX modes and RX filters."""
    result: dict[str, Any] = {
        "capabilities": [],
        "phc_index": None,
        "tx_modes": [],
        "rx_filters": [],
    }
    section: str | None = None
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("Time stamping parameters"):
            continue
        if stripped.startswith("Capabilities:"):
            section = "capabilities"
            continue
        phc = re.match(r"^PTP Hardware Clock:\s*(\S+)", stripped)
        if phc:
            section = None
            result["phc_index"] = int(phc.group(1)) if _digits(phc.group(1)) else None
            continue
        modes = re.match(
            r"^Hardware (Transmit Timestamp Modes|Receive Filter Modes):\s*(.*)", stripped
        )
        if modes:
            section = "tx_modes" if modes.group(1).startswith("Transmit") else "rx_filters"
            inline = modes.group(2).strip()
            if inline and inline != "none":
                result[section].append(inline.split()[0])
            continue
        if line[:1] in (" ", "\t") and section:
            result[section].append(stripped.split()[0])
        elif ":" in stripped:  # a heading this parser does not know: stop adding to the last one
            section = None
    caps = set(result["capabilities"])
    result["hardware"] = {"hardware-transmit", "hardware-receive"} <= caps
    return result


def _colon_pairs(text: str) -> dict[str, str]:
    """Lines "key: value" as {key: value}, both stripped; other lines are skipped."""
    result: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            result[key.strip()] = value.strip()
    return result


def parse_ethtool_driver(text: str) -> dict[str, str]:
    """`ethtool -i IFACE`: {"driver": "igb", "version": ..., "bus-info": ...}."""
    return _colon_pairs(text)


def parse_interrupts(text: str) -> dict[str, Any]:
    """/proc/interrupts: {"cpus": [0, 1], "irqs": {"24": {"counts": [..], "desc": ".."}}}.

    Row names are kept as the kernel prints them without the colon: numbers
    for device IRQs, "LOC", "RES", ... for per-CPU interrupt kinds.
    """
    lines = text.splitlines()
    if not lines:
        return {"cpus": [], "irqs": {}}
    cpus = [int(c[3:]) for c in lines[0].split() if c.startswith("CPU") and _digits(c[3:])]
    irqs: dict[str, dict[str, Any]] = {}
    for line in lines[1:]:
        name, sep, rest = line.partition(":")
        if not sep:
            continue
        fields = rest.split()
        counts: list[int] = []
        for field in fields[: len(cpus)]:
            if not _digits(field):
                break
            counts.append(int(field))
        desc = " ".join(fields[len(counts) :])
        irqs[name.strip()] = {"counts": counts, "desc": desc}
    return {"cpus": cpus, "irqs": irqs}


def parse_pmc(text: str) -> list[dict[str, Any]]:
    """pmc's answers: one dict per RESPONSE: {"tlv": "PORT_DATA_SET", "port": .., "fields": {..}}.

    A pmc that reached no daemon prints only its "sending:" lines: the result is [].
    """
    responses: list[dict[str, Any]] = []
    current: dict[str, Any] | None = None
    for line in text.splitlines():
        head = re.match(r"^\s*(\S+)\s+seq\s+(\d+)\s+(RESPONSE|ERROR)\s+MANAGEMENT\s+(\S+)", line)
        if head:
            current = {
                "port": head.group(1),
                "seq": int(head.group(2)),
                "kind": head.group(3),
                "tlv": head.group(4),
                "fields": {},
            }
            responses.append(current)
            continue
        if current is None or not line.startswith(("\t\t", "        ")):
            continue
        parts = line.strip().split(None, 1)
        if len(parts) == 2:
            current["fields"][parts[0]] = parts[1].strip()
        elif len(parts) == 1:
            current["fields"][parts[0]] = ""
    return responses


def pmc_values(responses: list[dict[str, Any]]) -> dict[str, Any]:
    """The values the PTP controls judge, from one pmc run: state, offset, gmPresent..."""
    result: dict[str, Any] = {}
    for response in responses:
        fields = response["fields"]
        tlv = response["tlv"]
        if tlv == "CURRENT_DATA_SET":
            for key, name in (
                ("offsetFromMaster", "offset_ns"),
                ("meanPathDelay", "path_delay_ns"),
            ):
                if key in fields and re.fullmatch(r"-?\d+(\.\d+)?", fields[key]):
                    result[name] = float(fields[key])
            if _digits(fields.get("stepsRemoved", "")):
                result["steps_removed"] = int(fields["stepsRemoved"])
        elif tlv == "PORT_DATA_SET":
            result["port_state"] = fields.get("portState")
        elif tlv == "TIME_STATUS_NP":
            present = fields.get("gmPresent")
            result["gm_present"] = None if present is None else present == "true"
            result["gm_identity"] = fields.get("gmIdentity")
            offset = fields.get("master_offset")
            if offset is not None and _NUMBER.match(offset):
                result["master_offset_ns"] = int(offset)
    return result


def parse_systemctl_show(text: str) -> list[dict[str, str]]:
    """`systemctl show -p A,B UNIT...`: one dict per unit (blocks separated by blank lines)."""
    units: list[dict[str, str]] = []
    current: dict[str, str] = {}
    for line in [*text.splitlines(), ""]:
        if not line.strip():
            if current:
                units.append(current)
                current = {}
            continue
        key, sep, value = line.partition("=")
        if sep:
            current[key] = value
    return units


def parse_status(text: str) -> dict[str, str]:
    """/proc/PID/status (or .../task/TID/status): {"Name": "ptp4l", "Cpus_allowed_list": ...}."""
    return _colon_pairs(text)


def parse_swaps(text: str) -> list[dict[str, str]]:
    """/proc/swaps: the active swap areas (the header line dropped)."""
    areas: list[dict[str, str]] = []
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 5:
            areas.append({"name": fields[0], "type": fields[1], "size_kb": fields[2]})
    return areas


def parse_mounts(text: str) -> list[dict[str, str]]:
    """/proc/mounts: {"source", "target", "fstype", "options"} per mount (octal escapes such as
    \\040 for a space undone)."""

    def unescape(field: str) -> str:
        return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)

    mounts: list[dict[str, str]] = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 4:
            source, target, fstype, options = (unescape(f) for f in fields[:4])
            mounts.append(
                {"source": source, "target": target, "fstype": fstype, "options": options}
            )
    return mounts


def parse_kmsg(line: str) -> dict[str, Any] | None:
    """One /dev/kmsg record "prio,seq,usec,flags;message" -> {"level", "seq", "usec", "msg"}."""
    head, sep, message = line.partition(";")
    if not sep:
        return None
    fields = head.split(",")
    if len(fields) < 3 or not all(_digits(f) for f in fields[:3]):
        return None
    return {
        "level": int(fields[0]) & 7,
        "seq": int(fields[1]),
        "usec": int(fields[2]),
        "msg": message.split("\n", 1)[0],
    }


def parse_dmesg_line(line: str) -> str:
    """A `dmesg` line without its "[    0.000000] " time stamp."""
    return re.sub(r"^\[\s*\d+\.\d+\]\s?", "", line.rstrip("\n"))


def parse_sysfs_cpulist(text: str) -> frozenset[int]:
    """A cpulist file of sysfs; "(null)" (nohz_full of a kernel booted without it) is empty."""
    text = text.strip()
    if text in ("", "(null)"):
        return frozenset()
    return cpulist.parse(text)


# Where the running kernel says which CPUs it isolates (isolcpus, nohz_full).
ISOLATION_FILES = ("sys/devices/system/cpu/isolated", "sys/devices/system/cpu/nohz_full")


def running_isolation(read: Callable[[str], str | None]) -> frozenset[int]:
    """The CPUs the running kernel isolates: the union of ISOLATION_FILES, each read with
    `read(rel)`; a file that is missing or does not parse counts as none."""
    found: frozenset[int] = frozenset()
    for rel in ISOLATION_FILES:
        try:
            found |= parse_sysfs_cpulist(read(rel) or "")
        except cpulist.CpuListError:
            continue
    return found
