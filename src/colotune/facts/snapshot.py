"""The snapshot a collector printed, read through the pure parsers.

`Snapshot(raw)` wraps the JSON document of one host and answers what the
controls ask (the effective CPU sets, per-node hugepages, governors, IRQ
affinities, ethtool and pmc results...). It does no I/O: tests build raw
documents by hand and the audit reads them from SSH.
"""

from __future__ import annotations

import re
from functools import cached_property
from typing import Any

from colotune.errors import ColotuneError
from colotune.host import parsers
from colotune.host import topology as _topology
from colotune.ptp import log as ptp_log
from colotune.ptp import pmc

CPU = "sys/devices/system/cpu"


class SnapshotError(ColotuneError):
    """A document that is not a collector snapshot; the message says what is missing."""


class Snapshot:
    """One host's facts. Missing facts read as None; the controls decide what that means."""

    def __init__(self, raw: dict[str, Any]) -> None:
        if not isinstance(raw, dict) or raw.get("format") != 1:
            raise SnapshotError(
                'not a colotune snapshot (expected a JSON object with "format": 1, as printed '
                "by the collector)"
            )
        self.raw = raw

    # ------------------------------------------------------------ plain values

    @property
    def hostname(self) -> str:
        return str(self.raw.get("hostname", ""))

    @property
    def collector(self) -> dict[str, Any]:
        value = self.raw.get("collector") or {}
        return dict(value)

    @property
    def virtualization(self) -> str | None:
        value = self.raw.get("virtualization")
        return str(value) if value else None

    def file(self, rel: str) -> str | None:
        """The text of a file the collector read (None: missing or unreadable)."""
        value = self.raw.get("files", {}).get(rel)
        return None if value is None else str(value)

    def value(self, rel: str) -> str | None:
        text = self.file(rel)
        return None if text is None else text.strip()

    def cpus(self, rel: str) -> frozenset[int] | None:
        """A cpulist file as a set; None when the file is missing."""
        text = self.file(rel)
        return None if text is None else parsers.parse_sysfs_cpulist(text)

    def sysctl(self, name: str) -> str | None:
        """A sysctl by dotted name ("kernel.numa_balancing")."""
        return self.value("proc/sys/" + name.replace(".", "/"))

    @cached_property
    def cmdline(self) -> list[str]:
        return parsers.parse_cmdline(self.file("proc/cmdline") or "")

    @cached_property
    def topology(self) -> _topology.Topology:
        data = self.raw.get("topology")
        if not isinstance(data, dict):
            raise SnapshotError("snapshot has no topology files")
        return _topology.from_snapshot(data, source=f"snapshot of {self.hostname}")

    @property
    def online_cpus(self) -> frozenset[int]:
        return self.cpus(f"{CPU}/online") or frozenset()

    # ------------------------------------------------------------ CPU frequency and idle

    def per_cpu(self, name: str) -> dict[int, str]:
        """A cpufreq file per online CPU that has it: {cpu: value}."""
        result: dict[int, str] = {}
        for cpu in sorted(self.online_cpus):
            text = self.value(f"{CPU}/cpu{cpu}/cpufreq/{name}")
            if text is not None:
                result[cpu] = text
        return result

    def idle_states(self, cpu: int) -> list[dict[str, Any]]:
        """cpuidle states of a CPU: [{"state": 0, "name": "POLL", "disabled": False, ...}]."""
        pattern = re.compile(rf"^{CPU}/cpu{cpu}/cpuidle/state(\d+)/name$")
        states = []
        for rel in self.raw.get("files", {}):
            match = pattern.match(rel)
            if not match:
                continue
            base = rel.rsplit("/", 1)[0]
            latency = self.value(f"{base}/latency")
            states.append(
                {
                    "state": int(match.group(1)),
                    "name": self.value(rel) or "",
                    "disabled": self.value(f"{base}/disable") == "1",
                    "latency": int(latency) if latency and latency.isdigit() else None,
                }
            )
        return sorted(states, key=lambda s: s["state"])

    # ------------------------------------------------------------ memory

    def hugepages(self, size_kb: int = _topology.HUGEPAGE_1G_KB) -> dict[int, int]:
        """nr_hugepages per NUMA node for one page size: {node: count}."""
        pattern = re.compile(
            rf"^sys/devices/system/node/node(\d+)/hugepages/hugepages-{size_kb}kB/nr_hugepages$"
        )
        result: dict[int, int] = {}
        for rel in self.raw.get("files", {}):
            match = pattern.match(rel)
            if match:
                text = self.value(rel)
                result[int(match.group(1))] = int(text) if text and text.isdigit() else 0
        return dict(sorted(result.items()))

    def selected(self, rel: str) -> str | None:
        """The bracketed choice of a sysfs selector ("always madvise [never]" -> "never")."""
        text = self.value(rel)
        if text is None:
            return None
        match = re.search(r"\[(\w+)\]", text)
        return match.group(1) if match else text

    @property
    def hugetlbfs(self) -> dict[str, dict[str, Any]] | None:
        """Each hugetlbfs mount point: {"mode": "1770", "uid", "gid", "group", "options"} (or
        {"error"}); None from a collector that did not look."""
        value = self.raw.get("hugetlbfs")
        return None if value is None else {str(k): dict(v) for k, v in value.items()}

    @cached_property
    def swaps(self) -> list[dict[str, str]]:
        return parsers.parse_swaps(self.file("proc/swaps") or "")

    # ------------------------------------------------------------ interrupts

    @cached_property
    def interrupts(self) -> dict[str, Any]:
        return parsers.parse_interrupts(self.file("proc/interrupts") or "")

    @property
    def irqs(self) -> dict[int, dict[str, str | None]]:
        """Every IRQ's affinity as the kernel applied it: {irq: {"effective", "affinity"}}."""
        return {int(k): dict(v) for k, v in self.raw.get("irqs", {}).items()}

    def irq_name(self, irq: int) -> str:
        row = self.interrupts["irqs"].get(str(irq))
        return str(row["desc"]) if row else ""

    # ------------------------------------------------------------ processes

    @property
    def daemons(self) -> list[dict[str, Any]]:
        return list(self.raw.get("daemons", []))

    def running(self, comm: str) -> list[dict[str, Any]]:
        return [d for d in self.daemons if d.get("comm") == comm]

    @property
    def tasks(self) -> dict[str, Any]:
        return dict(self.raw.get("tasks") or {"watched": "", "list": []})

    @cached_property
    def units(self) -> dict[str, dict[str, str]]:
        """systemd units by Id (empty when the host does not run systemd)."""
        systemd = self.raw.get("systemd") or {}
        show = systemd.get("show") or {}
        return {u["Id"]: u for u in parsers.parse_systemctl_show(show.get("out", "")) if "Id" in u}

    @property
    def kmsg(self) -> list[str]:
        return [str(line) for line in (self.raw.get("kmsg") or {}).get("lines", [])]

    # ------------------------------------------------------------ NICs and PTP

    def ethtool(self, nic: str, flag: str) -> dict[str, Any] | None:
        """The raw ethtool result for a NIC: {"argv", "rc", "out", "err"}; None if not run."""
        result = (self.raw.get("nics") or {}).get(nic, {}).get(flag)
        return dict(result) if result else None

    def pmc_samples(self) -> dict[str, list[dict[str, Any]]]:
        """Per ptp4l socket, each pmc sample as colotune.ptp.pmc.sample reads it:
        [{"t", "answered", "offset_ns", "port_state", "gm_present", "ingress_time_ns", ...}]."""
        ptp = self.raw.get("ptp") or {}
        result: dict[str, list[dict[str, Any]]] = {}
        for sock, samples in (ptp.get("samples") or {}).items():
            result[sock] = [
                pmc.sample(str(s.get("out", "")), float(s.get("t") or 0.0)) for s in samples
            ]
        return result

    @property
    def pmc_installed(self) -> bool:
        return bool((self.raw.get("ptp") or {}).get("pmc"))

    def phc2sys_offsets(self) -> list[int] | None:
        log = (self.raw.get("systemd") or {}).get("phc2sys_log")
        if not log:
            return None
        return ptp_log.locked_offsets(ptp_log.parse(str(log.get("out", ""))), program="phc2sys")
