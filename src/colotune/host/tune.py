"""Runtime tuning on the host: compare the kernel's live state with the desired one, fix it.

The desired state (`/etc/colotune/tuning.json`, rendered from the plan by
`colotune.tuning.desired_state`) covers what can change on a running kernel:
governor, EPP, turbo, the frequency floor, THP, KSM, sysctls, swap, IRQ
affinity, the default IRQ affinity, the workqueue cpumask, the per-node kernel
threads (kswapd, kcompactd) kept off isolated CPUs, runtime hugepages per node
and NIC coalescing.
`changes()` lists every difference with its control ID and risk class;
`apply()` makes them, and reports what the kernel refused (a managed IRQ, a
driver without a coalescing knob) as not applicable, not as failure.

Standard library only. It runs in three places with the same code, shipped by
colotune.bundle: as the role's colotune_tune action (`module_main`: check mode and
diff), as `colotune-tune` at boot,
and as `colotune-tune watch`, which re-applies IRQ affinity and coalescing
whenever the trading NIC comes up again (the kernel resets an IRQ's affinity
when the driver re-requests it).
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from colotune.host import cpulist, parsers, topology

DESIRED_FILE = "/etc/colotune/tuning.json"
# Present once colotune-tune has run since boot: a later restart (the role
# changed tuning.json) applies live changes only, since it may be market hours.
STARTED_MARKER = "/run/colotune/tune-started"
# IRQs whose affinity the kernel refused to change since boot (kernel-managed or fixed),
# one "<irq> <handler names>" per line: apply() records each refusal, and the checks
# (Ansible check mode, `colotune-tune check`) read it, since the only way to ask the
# kernel is to write. /run empties at boot, when IRQ numbers may change.
REFUSED_IRQS = "run/colotune/irq-refused"
REFUSED_DETAIL = "the kernel refuses to move this IRQ (kernel-managed or fixed)"


class UnfitError(ValueError):
    """The desired state asks for what this host cannot take; the message names the setting,
    the host's limit and what would be valid. Raised before anything is changed."""


@dataclass
class Change:
    """One setting that differs from the desired state."""

    control: str
    risk: str  # live / disruptive
    target: str  # a path, or "NIC ens4: rx-usecs"
    before: str
    after: str
    status: str = "pending"  # pending / done / not_applicable / failed
    detail: str = ""

    def line(self) -> str:
        text = f"{self.control} {self.target}: {self.before!r} -> {self.after!r} [{self.status}]"
        return text + (f" ({self.detail})" if self.detail else "")


@dataclass
class Host:
    """The host below `root` ("/" live; a directory in tests)."""

    root: Path = field(default_factory=lambda: Path("/"))
    ethtool: str = "ethtool"

    def path(self, rel: str) -> Path:
        return self.root / rel.lstrip("/")

    def read(self, rel: str) -> str | None:
        try:
            return self.path(rel).read_text().strip()
        except OSError:
            return None

    def write(self, rel: str, value: str) -> None:
        with open(self.path(rel), "w") as handle:
            handle.write(value)

    def run(self, *argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(argv, capture_output=True, text=True, check=False, timeout=20)

    def set_affinity(self, pid: int, cpus: set[int]) -> None:
        os.sched_setaffinity(pid, cpus)


def _selected(text: str) -> str:
    """The bracketed choice of a sysfs selector: "always madvise [never]" -> "never"."""
    match = re.search(r"\[(\w+)\]", text)
    return match.group(1) if match else text.strip()


# ---------------------------------------------------------------- CPU frequency and idle


def _cpu_changes(host: Host, desired: dict[str, Any]) -> list[Change]:
    out: list[Change] = []
    base = "sys/devices/system/cpu"
    online = cpulist.parse(host.read(f"{base}/online") or "")
    governor = desired.get("governor")
    if governor:
        for cpu in sorted(online):
            rel = f"{base}/cpu{cpu}/cpufreq/scaling_governor"
            current = host.read(rel)
            if current is not None and current != governor:
                out.append(Change("TUN-007", "live", rel, current, governor))
        epp = desired.get("epp")
        for cpu in sorted(online):
            rel = f"{base}/cpu{cpu}/cpufreq/energy_performance_preference"
            current = host.read(rel)
            if epp and current is not None and current != epp:
                out.append(Change("TUN-008", "live", rel, current, epp))
    floor = desired.get("min_freq", "unchanged")
    if floor != "unchanged":
        out += _min_freq_changes(host, online, floor)
    turbo = desired.get("turbo", "unchanged")
    if turbo != "unchanged":
        no_turbo = host.read(f"{base}/intel_pstate/no_turbo")
        boost = host.read(f"{base}/cpufreq/boost")
        if no_turbo is not None:
            want = "0" if turbo == "on" else "1"
            if no_turbo != want:
                out.append(
                    Change("TUN-009", "live", f"{base}/intel_pstate/no_turbo", no_turbo, want)
                )
        elif boost is not None:
            want = "1" if turbo == "on" else "0"
            if boost != want:
                out.append(Change("TUN-009", "live", f"{base}/cpufreq/boost", boost, want))
    return out


def _min_freq_changes(host: Host, online: frozenset[int], floor: str | int) -> list[Change]:
    """TUN-027: every CPU's scaling_min_freq at the floor; "max" is the CPU's own
    scaling_max_freq. A floor in kHz outside what the CPU allows now (cpuinfo_min_freq up to
    scaling_max_freq: the kernel would clamp it, and the next run would find it moved) is
    refused with the range."""
    out: list[Change] = []
    for cpu in sorted(online):
        freq = f"sys/devices/system/cpu/cpu{cpu}/cpufreq"
        current = host.read(f"{freq}/scaling_min_freq")
        if current is None:
            continue  # no cpufreq on this CPU: nothing to pin
        highest = host.read(f"{freq}/scaling_max_freq") or host.read(f"{freq}/cpuinfo_max_freq")
        if floor == "max":
            want = highest or current
        else:
            lowest = host.read(f"{freq}/cpuinfo_min_freq")
            if lowest and highest and not int(lowest) <= int(floor) <= int(highest):
                raise UnfitError(
                    f"tuning_min_freq {floor} kHz is outside what CPU {cpu} allows now: "
                    f"{lowest}-{highest} kHz (cpuinfo_min_freq to scaling_max_freq); "
                    "valid: a kHz value in that range, or max"
                )
            want = str(floor)
        if current != want:
            out.append(Change("TUN-027", "live", f"{freq}/scaling_min_freq", current, want))
    return out


# ---------------------------------------------------------------- memory and kernel settings


def _memory_changes(host: Host, desired: dict[str, Any]) -> list[Change]:
    out: list[Change] = []
    for rel in (
        "sys/kernel/mm/transparent_hugepage/enabled",
        "sys/kernel/mm/transparent_hugepage/defrag",
    ):
        text = host.read(rel)
        if text is not None and desired.get("thp") and _selected(text) != desired["thp"]:
            out.append(Change("TUN-017", "live", rel, _selected(text), desired["thp"]))
    ksm = host.read("sys/kernel/mm/ksm/run")
    if ksm is not None and desired.get("ksm_off") and ksm != "0":
        out.append(Change("TUN-018", "live", "sys/kernel/mm/ksm/run", ksm, "0"))
    for node, count in sorted(desired.get("hugepages_runtime", {}).items()):
        rel = f"sys/devices/system/node/node{node}/hugepages/hugepages-1048576kB/nr_hugepages"
        current = host.read(rel)
        if current is not None and current != str(count):
            out.append(Change("TUN-006", "live", rel, current, str(count)))
    # {name: {"value", "control", "at_least"}}: colotune.tuning.SYSCTLS, as tuning.json holds it
    for key, wanted in sorted(desired.get("sysctls", {}).items()):
        rel = "proc/sys/" + key.replace(".", "/")
        current = host.read(rel)
        if current is None or sysctl_satisfied(current, wanted["value"], wanted.get("at_least")):
            continue
        out.append(Change(wanted["control"], "live", rel, current, wanted["value"]))
    if desired.get("swap_off"):
        swaps = (host.read("proc/swaps") or "").splitlines()[1:]
        for line in swaps:
            device = line.split()[0]
            out.append(Change("TUN-019", "live", f"swap {device}", "on", "off"))
    return out


def sysctl_satisfied(current: str, value: str, at_least: bool | None = False) -> bool:
    """Does a sysctl's `current` text meet the `value` colotune keeps? With `at_least`, any
    integer as large is as good (left alone); otherwise the same words. The one rule for the
    role (here) and the controls (colotune.tuning.Sysctl.satisfied_by)."""
    if current.split() == value.split():
        return True
    number = current.strip()
    return bool(at_least) and number.lstrip("-").isdigit() and int(number) >= int(value)


# ---------------------------------------------------------------- interrupts


def movable_irqs(host: Host) -> list[int]:
    return sorted(int(n) for n in os.listdir(host.path("proc/irq")) if n.isdigit() and n != "0")


def _irq_key(host: Host, irq: int) -> str:
    """An IRQ and its handlers' names: a refusal stays tied to the device it was for."""
    return f"{irq} {host.read(f'sys/kernel/irq/{irq}/actions') or ''}".strip()


def refused_irqs(host: Host) -> set[str]:
    """The IRQs (keys of _irq_key) the kernel refused to move since boot."""
    return {line.strip() for line in (host.read(REFUSED_IRQS) or "").splitlines() if line.strip()}


def _record_refused(host: Host, irq: int) -> None:
    keys = refused_irqs(host) | {_irq_key(host, irq)}
    path = host.path(REFUSED_IRQS)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{k}\n" for k in sorted(keys)))


def _irq_changes(
    host: Host, desired: dict[str, Any], *, only: set[int] | None = None
) -> list[Change]:
    out: list[Change] = []
    irq_cpus = desired.get("irq_cpus")
    if not irq_cpus:
        return out
    # Never onto a CPU the running kernel isolates: a new plan waiting for its reboot
    # (refused in market hours, say) may call housekeeping what is isolated until then.
    running_isolated = parsers.running_isolation(host.read)
    want = set(cpulist.parse(irq_cpus)) - running_isolated
    if not want:
        return out
    default = host.read("proc/irq/default_smp_affinity")
    if only is None and default is not None and cpulist.parse_mask(default) != want:
        out.append(
            Change(
                "TUN-013",
                "live",
                "proc/irq/default_smp_affinity",
                default,
                cpulist.render_mask(want),
            )
        )
    refused = refused_irqs(host)
    for irq in movable_irqs(host):
        if only is not None and irq not in only:
            continue
        rel = f"proc/irq/{irq}/smp_affinity_list"
        current = host.read(rel)
        if current is None:
            continue
        if cpulist.parse(current) != want:
            change = Change("TUN-011", "live", rel, current, cpulist.render(want))
            if _irq_key(host, irq) in refused:
                change.status, change.detail = "not_applicable", REFUSED_DETAIL
            out.append(change)
    workqueue = host.read("sys/devices/virtual/workqueue/cpumask")
    housekeeping = desired.get("housekeeping_cpus")
    if only is None and workqueue is not None and housekeeping:
        want_hk = set(cpulist.parse(housekeeping)) - running_isolated
        if want_hk and cpulist.parse_mask(workqueue) != want_hk:
            out.append(
                Change(
                    "TUN-023",
                    "live",
                    "sys/devices/virtual/workqueue/cpumask",
                    workqueue,
                    cpulist.render_mask(want_hk),
                )
            )
    return out


# ---------------------------------------------------------------- kernel threads

# Per-node memory reclaim and compaction threads: the kernel binds each to its node's
# CPUs, isolated ones included, but lets them be moved (TUN-024 names them otherwise).
PER_NODE_KTHREAD = re.compile(r"(kswapd|kcompactd)\d+")


def _kthread_changes(host: Host, desired: dict[str, Any]) -> list[Change]:
    housekeeping = cpulist.parse(desired.get("housekeeping_cpus") or "")
    isolated = cpulist.parse(desired.get("isolated_cpus") or "")
    if not housekeeping or not isolated:
        return []
    out = []
    for pid in _listdir(host, "proc"):
        if not pid.isdigit():
            continue
        name = (host.read(f"proc/{pid}/comm") or "").strip()
        if not PER_NODE_KTHREAD.fullmatch(name):
            continue
        status = parsers.parse_status(host.read(f"proc/{pid}/status") or "")
        if status.get("PPid") != "2":
            continue  # a user process with a kernel thread's name
        allowed = cpulist.parse(status.get("Cpus_allowed_list", ""))
        if not allowed & isolated:
            continue
        want = (allowed & housekeeping) or housekeeping
        out.append(
            Change(
                "TUN-024",
                "live",
                f"task {pid} {name}",
                cpulist.render(allowed),
                cpulist.render(want),
            )
        )
    return out


def nic_irqs(host: Host, nic: str) -> set[int]:
    """IRQs of a NIC by topology.nic_irqs, the rule the audit judges them by (TUN-012)."""
    found = topology.read_nic(topology.SysfsTree(host.root), nic)
    function_irqs = found.irqs if found is not None else ()
    return set(topology.nic_irqs(nic, function_irqs, host.read("proc/interrupts") or ""))


def _listdir(host: Host, rel: str) -> list[str]:
    try:
        return os.listdir(host.path(rel))
    except OSError:
        return []


# ---------------------------------------------------------------- NIC coalescing

# The settings colotune keeps, by their ethtool -C names (colotune.tuning.NIC_COALESCING_OFF).
COALESCE_KEYS = ("adaptive-rx", "adaptive-tx", "rx-usecs", "tx-usecs", "rx-frames", "tx-frames")


def coalesce_settings(text: str) -> dict[str, str]:
    """`ethtool -c` read by the collector's parser (parsers.parse_ethtool_coalesce), as
    ethtool -C takes it: {"adaptive-rx": "off", "rx-usecs": "3", ...}; n/a fields left out."""
    out: dict[str, str] = {}
    for key, value in parsers.parse_ethtool_coalesce(text).items():
        if key in COALESCE_KEYS and value is not None:
            out[key] = ("on" if value else "off") if isinstance(value, bool) else str(value)
    return out


def _nic_changes(host: Host, desired: dict[str, Any]) -> list[Change]:
    nic = desired.get("nic")
    wanted: dict[str, str] = {k: str(v) for k, v in desired.get("coalescing", {}).items()}
    if not nic or not wanted:
        return []
    if shutil.which(host.ethtool) is None and not Path(host.ethtool).exists():
        return [
            Change(
                "TUN-015",
                "disruptive",
                f"NIC {nic}",
                "?",
                "?",
                "not_applicable",
                "ethtool is not installed",
            )
        ]
    shown = host.run(host.ethtool, "-c", nic)
    driver = _driver(host, nic)
    if shown.returncode != 0:
        return [
            Change(
                "TUN-015",
                "disruptive",
                f"NIC {nic}: coalescing",
                "?",
                "off",
                "not_applicable",
                f"driver {driver} does not support interrupt coalescing settings",
            )
        ]
    current = coalesce_settings(shown.stdout)
    out = []
    for key, value in wanted.items():
        if key not in current:
            out.append(
                Change(
                    "TUN-015",
                    "disruptive",
                    f"NIC {nic}: {key}",
                    "n/a",
                    value,
                    "not_applicable",
                    f"driver {driver} does not support {key}",
                )
            )
        elif current[key] != value:
            out.append(Change("TUN-015", "disruptive", f"NIC {nic}: {key}", current[key], value))
    return out


def _driver(host: Host, nic: str) -> str:
    try:
        return os.path.basename(os.readlink(host.path(f"sys/class/net/{nic}/device/driver")))
    except OSError:
        return "?"


# ---------------------------------------------------------------- the whole


def changes(host: Host, desired: dict[str, Any], *, scope: str = "all") -> list[Change]:
    """Every difference between the live kernel and `desired`, for `scope` (all / nic)."""
    if scope == "nic":
        irqs = nic_irqs(host, desired.get("nic", "")) if desired.get("nic") else set()
        return _irq_changes(host, desired, only=irqs) + _nic_changes(host, desired)
    return (
        _cpu_changes(host, desired)
        + _memory_changes(host, desired)
        + _irq_changes(host, desired)
        + _kthread_changes(host, desired)
        + _nic_changes(host, desired)
    )


def apply(host: Host, pending: list[Change], *, allow: set[str]) -> list[Change]:
    """Make each pending change whose risk class is allowed; record how each went."""
    for change in pending:
        if change.status != "pending":
            continue
        if change.risk not in allow:
            change.status = "refused"
            change.detail = f"{change.risk} change refused in market hours"
            continue
        try:
            _apply_one(host, change)
            change.status = "done"
        except OSError as exc:
            if change.target.startswith("task ") and exc.errno in (errno.ESRCH, errno.EINVAL):
                change.status = "not_applicable"
                change.detail = "the task exited" if exc.errno == errno.ESRCH else "not movable"
            elif exc.errno == errno.EIO and "/irq/" in change.target:
                change.status, change.detail = "not_applicable", REFUSED_DETAIL
                irq = change.target.split("/")[2]
                if irq.isdigit():
                    _record_refused(host, int(irq))
            else:
                change.status = "failed"
                change.detail = exc.strerror or str(exc)
        except RuntimeError as exc:
            change.status = "failed"
            change.detail = str(exc)
    return pending


def _apply_one(host: Host, change: Change) -> None:
    if change.target.startswith("task "):
        host.set_affinity(int(change.target.split()[1]), set(cpulist.parse(change.after)))
        return
    if change.target.startswith("swap "):
        done = host.run("swapoff", change.target.split(" ", 1)[1])
        if done.returncode != 0:
            raise RuntimeError(done.stderr.strip() or "swapoff failed")
        return
    if change.target.startswith("NIC "):
        nic, key = change.target[4:].split(": ", 1)
        done = host.run(host.ethtool, "-C", nic, key, change.after)
        # ethtool exits 80 when nothing needed changing, which is success here
        if done.returncode not in (0, 80):
            raise RuntimeError(done.stderr.strip() or f"ethtool -C {nic} {key} failed")
        return
    host.write(change.target, change.after)


def load_desired(path: str = DESIRED_FILE) -> dict[str, Any]:
    with open(path) as handle:
        data: dict[str, Any] = json.load(handle)
    return data


# ---------------------------------------------------------------- link events

RTMGRP_LINK = 1
RTM_NEWLINK = 16
IFF_UP = 0x1
IFF_RUNNING = 0x40


def link_events(nic_index: int) -> Any:
    """Yield each time the interface `nic_index` goes from not running to running."""
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
    sock.bind((0, RTMGRP_LINK))
    running = True
    while True:
        data = sock.recv(65536)
        offset = 0
        while offset + 16 <= len(data):
            length, kind = struct.unpack_from("=IH", data, offset)
            if length < 16:
                break
            if kind == RTM_NEWLINK and offset + 32 <= len(data):
                _family, _type, index, flags, _change = struct.unpack_from(
                    "=BxHiII", data, offset + 16
                )
                if index == nic_index:
                    now = bool(flags & IFF_UP and flags & IFF_RUNNING)
                    if now and not running:
                        yield
                    running = now
            offset += (length + 3) & ~3


def module_main(params_json: str, host: Host | None = None) -> int:
    """The role's colotune_tune action, run on the host: bring the live kernel to the
    desired state (or, in check mode, list what would change) and print the result as
    JSON. params: desired, allow (risk classes that may change now), scope (all or nic),
    check_mode."""
    params = json.loads(params_json)
    host = host or Host()
    allow = set(params.get("allow", ("live", "disruptive")))
    try:
        found = changes(host, params["desired"], scope=params.get("scope", "all"))
    except UnfitError as exc:  # before anything changed
        print(json.dumps({"failed": True, "changed": False, "msg": f"{exc}; nothing changed"}))
        return 0
    if params.get("check_mode"):
        for change in found:
            if change.status == "pending" and change.risk not in allow:
                change.status = "refused"
                change.detail = f"{change.risk} change refused in market hours"
    else:
        apply(host, found, allow=allow)
    would = [c for c in found if c.status in ("pending", "done")]
    failed = [c.line() for c in found if c.status == "failed"]
    result: dict[str, Any] = {
        "changed": bool(would),
        "changes": [c.line() for c in found],
        "refused": [c.line() for c in found if c.status == "refused"],
        "not_applicable": [c.line() for c in found if c.status == "not_applicable"],
        "diff": {
            "before": "".join(f"{c.control} {c.target} = {c.before}\n" for c in would),
            "after": "".join(f"{c.control} {c.target} = {c.after}\n" for c in would),
        },
    }
    if failed:
        result.update(failed=True, msg="some settings could not be applied: " + "; ".join(failed))
    print(json.dumps(result))
    return 0


def main(argv: list[str] | None = None) -> int:
    """colotune-tune [check|apply|watch] [--desired FILE] [--json]"""
    args = sys.argv[1:] if argv is None else argv
    mode = args[0] if args and not args[0].startswith("-") else "check"
    path = args[args.index("--desired") + 1] if "--desired" in args else DESIRED_FILE
    if mode not in ("check", "apply", "watch"):
        print("usage: colotune-tune [check|apply|watch] [--desired FILE] [--json]", file=sys.stderr)
        return 2
    host = Host()
    try:
        desired = load_desired(path)
    except (OSError, ValueError) as exc:
        print(
            f"colotune-tune: cannot read the desired state {path} ({exc}); the tuning role "
            "writes it; nothing changed",
            file=sys.stderr,
        )
        return 2
    first_since_boot = not os.path.exists(STARTED_MARKER)
    allow = {"live", "disruptive"} if mode != "watch" or first_since_boot else {"live"}
    try:
        found = changes(host, desired)
    except UnfitError as exc:
        print(f"colotune-tune: {exc}; nothing changed", file=sys.stderr)
        return 2
    if mode != "check":
        apply(host, found, allow=allow)
    if "--json" in args:
        print(json.dumps([asdict(c) for c in found]))
    else:
        for change in found:
            print(change.line())
    if mode == "watch":
        os.makedirs(os.path.dirname(STARTED_MARKER), exist_ok=True)
        Path(STARTED_MARKER).touch()
    if mode == "watch" and desired.get("nic"):
        allow = {"live", "disruptive"}  # the link just went down and up: nothing more to lose
        index = int(host.read(f"sys/class/net/{desired['nic']}/ifindex") or "0")
        for _ in link_events(index):
            for change in apply(host, changes(host, desired, scope="nic"), allow=allow):
                print("link up: " + change.line(), flush=True)
    failed = [c for c in found if c.status == "failed"]
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
