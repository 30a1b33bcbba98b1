"""The on-host collector: reads /proc, /sys, ethtool, pmc and systemd once, prints JSON.

Runs on the target with nothing but python3 (standard library, plus
colotune.host.cpulist, colotune.host.topology and colotune.host.parsers, which
colotune.bundle ships along). It is read-only: it opens
files for reading and runs only commands that report (ethtool -c/-g/-k/-T/-i,
pmc GET, systemctl show, journalctl). Before anything else it pins itself,
and so every command it starts, to the housekeeping CPUs (the online CPUs
that are neither in /sys/devices/system/cpu/isolated nor in nohz_full). It
reads no MSRs and runs no perf. Its own CPU cost (getrusage of itself and its
children) is part of the snapshot.

Options (argv): --watch-cpus LIST (CPUs whose tasks are listed; default the
kernel's isolated and nohz_full CPUs), --irq-window SECONDS (count interrupts
over a window), --ptp-window SECONDS and --ptp-interval SECONDS (sample pmc
over a window; default one sample), --pmc-sockets PATH,... (ptp4l UDS sockets;
default every socket /run/ptp4l*), --pmc-domain N (the PTP domain), --nics
NAME,... (NICs to run ethtool on; default every NIC backed by a device),
--root PATH (read another root; tests).
"""

from __future__ import annotations

import glob
import grp
import json
import os
import resource
import shutil
import stat
import subprocess
import sys
import time
from typing import Any

from colotune.host import cpulist, parsers, topology

FORMAT = 1
SYSCTLS = (
    "kernel/numa_balancing",
    "kernel/timer_migration",
    "kernel/watchdog",
    "kernel/nmi_watchdog",
    "kernel/soft_watchdog",
    "kernel/sched_rt_runtime_us",
    "vm/stat_interval",
    "vm/swappiness",
    "net/core/busy_poll",
    "net/core/busy_read",
)
# Processes the controls ask about, by /proc/PID/comm (15 characters at most).
# Time services that discipline a clock on their own, the one list of them: roles/ptp
# stops and masks the units (colotune.ptp.role), PTP-007 fails while one is enabled or
# its process runs. timemaster runs its own ptp4l, phc2sys and chronyd.
TIME_UNITS = (
    "chrony.service",
    "chronyd.service",
    "ntp.service",
    "ntpd.service",
    "ntpsec.service",
    "openntpd.service",
    "systemd-timesyncd.service",
    "timemaster.service",
)
# Their processes by /proc/PID/comm (15 characters at most; ntpsec's daemon is ntpd too).
TIME_DAEMONS = ("chronyd", "ntpd", "openntpd", "systemd-timesyn", "timemaster")
DAEMONS = ("ptp4l", "phc2sys", "ts2phc", *TIME_DAEMONS, "irqbalance", "tuned")
UNITS = (
    "irqbalance.service",
    *TIME_UNITS,
    "tuned.service",
    "fwupd-refresh.timer",
    "ptp4l*",
    "phc2sys*",
)
# Kernel messages that show an argument on the command line did not take effect.
KMSG_PATTERNS = (
    "nohz unsupported",
    "housekeeping",
    "isolcpus",
    "nohz_full",
    "no_hz",
    "full dynticks",
    "rcu_nocbs",
    "offload rcu callbacks",
    "hugepage",
    "hugetlb",
    "unknown kernel command line",
    "tsc",
)
MAX_TASKS = 400
MAX_KMSG = 200


class Reader:
    """Reads below a root, remembering every file it read into `files` (missing: None)."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.files: dict[str, str | None] = {}
        self.errors: list[str] = []

    def path(self, rel: str) -> str:
        return os.path.join(self.root, rel.lstrip("/"))

    def read(self, rel: str, *, keep: bool = True) -> str | None:
        try:
            with open(self.path(rel), errors="replace") as handle:
                text: str | None = handle.read()
        except OSError:
            text = None
        if keep:
            self.files[rel] = text
        return text

    def glob(self, pattern: str) -> list[str]:
        base = self.path("")
        return sorted(os.path.relpath(p, base) for p in glob.glob(self.path(pattern)))


def housekeeping_cpus(reader: Reader) -> frozenset[int]:
    """Online CPUs outside the kernel's isolated and nohz_full sets."""

    def cpus(rel: str) -> frozenset[int]:
        text = reader.read(rel, keep=False)
        try:
            return parsers.parse_sysfs_cpulist(text or "")
        except cpulist.CpuListError:
            return frozenset()

    online = cpus("sys/devices/system/cpu/online")
    isolated = parsers.running_isolation(lambda rel: reader.read(rel, keep=False))
    return (online - isolated) or online


def housekeeping_watch(reader: Reader) -> frozenset[int]:
    """The kernel's isolated and nohz_full CPUs (the CPUs whose tasks are listed)."""
    return parsers.running_isolation(reader.files.get)


def pin(reader: Reader) -> dict[str, Any]:
    """Pin this process (and so its children) to the housekeeping CPUs; say where it runs."""
    before = sorted(os.sched_getaffinity(0))
    wanted = housekeeping_cpus(reader)
    error = None
    if wanted:
        try:
            os.sched_setaffinity(0, wanted)
        except OSError as exc:
            error = f"sched_setaffinity({cpulist.render(wanted)}): {exc.strerror}"
    after = os.sched_getaffinity(0)
    return {
        "affinity_before": cpulist.render(before),
        "housekeeping": cpulist.render(wanted),
        "affinity": cpulist.render(after),
        "pinned": bool(wanted) and set(after) <= set(wanted),
        "error": error,
    }


def run(argv: list[str], timeout: float = 5.0) -> dict[str, Any]:
    """Run a read-only command; never raises. rc None: not installed or timed out."""
    if shutil.which(argv[0]) is None:
        return {"argv": argv, "rc": None, "out": "", "err": f"{argv[0]}: not installed"}
    try:
        done = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, "LC_ALL": "C"},
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {"argv": argv, "rc": None, "out": "", "err": f"timed out after {timeout} s"}
    except OSError as exc:
        return {"argv": argv, "rc": None, "out": "", "err": str(exc)}
    return {"argv": argv, "rc": done.returncode, "out": done.stdout, "err": done.stderr}


def read_cpu_files(reader: Reader) -> None:
    base = "sys/devices/system/cpu"
    for name in ("online", "present", "isolated", "nohz_full", "cpufreq/boost"):
        reader.read(f"{base}/{name}")
    for name in ("no_turbo", "status"):
        reader.read(f"{base}/intel_pstate/{name}")
    reader.read(f"{base}/cpuidle/current_driver")
    for cpu_dir in reader.glob(f"{base}/cpu[0-9]*"):
        for name in (
            "scaling_governor",
            "energy_performance_preference",
            "scaling_min_freq",
            "scaling_max_freq",
            "cpuinfo_min_freq",
            "cpuinfo_max_freq",
        ):
            reader.read(f"{cpu_dir}/cpufreq/{name}")
        for state in reader.glob(f"{cpu_dir}/cpuidle/state[0-9]*"):
            for name in ("name", "disable", "latency"):
                reader.read(f"{state}/{name}")


def read_memory_and_kernel(reader: Reader) -> None:
    reader.read("proc/cmdline")
    reader.read("proc/swaps")
    for name in SYSCTLS:
        reader.read(f"proc/sys/{name}")
    for name in ("enabled", "defrag"):
        reader.read(f"sys/kernel/mm/transparent_hugepage/{name}")
    reader.read("sys/kernel/mm/ksm/run")
    reader.read("sys/devices/virtual/workqueue/cpumask")
    for node in reader.glob("sys/devices/system/node/node[0-9]*"):
        for size in reader.glob(f"{node}/hugepages/hugepages-*"):
            reader.read(f"{size}/nr_hugepages")
            reader.read(f"{size}/free_hugepages")


def read_hugetlbfs(reader: Reader) -> dict[str, dict[str, Any]]:
    """Who may use each hugetlbfs mount: its root directory's mode, owner and group, from a
    stat of the mount point (a chmod after mounting shows there, not in /proc/mounts)."""
    found: dict[str, dict[str, Any]] = {}
    for mount in parsers.parse_mounts(reader.read("proc/mounts", keep=False) or ""):
        if mount["fstype"] != "hugetlbfs":
            continue
        try:
            info = os.stat(reader.path(mount["target"]))
        except OSError as exc:
            found[mount["target"]] = {"error": exc.strerror}
            continue
        try:
            group: str | None = grp.getgrgid(info.st_gid).gr_name
        except KeyError:
            group = None
        found[mount["target"]] = {
            "options": mount["options"],
            "mode": f"{stat.S_IMODE(info.st_mode):04o}",
            "uid": info.st_uid,
            "gid": info.st_gid,
            "group": group,
        }
    return found


def read_irqs(reader: Reader) -> dict[str, dict[str, str | None]]:
    reader.read("proc/interrupts")
    reader.read("proc/irq/default_smp_affinity")
    irqs: dict[str, dict[str, str | None]] = {}
    for irq_dir in reader.glob("proc/irq/[0-9]*"):
        irq = os.path.basename(irq_dir)
        effective = reader.read(f"{irq_dir}/effective_affinity_list", keep=False)
        affinity = reader.read(f"{irq_dir}/smp_affinity_list", keep=False)
        irqs[irq] = {
            "effective": effective.strip() if effective is not None else None,
            "affinity": affinity.strip() if affinity is not None else None,
        }
    return irqs


PF_NO_SETAFFINITY = 0x04000000  # include/linux/sched.h: nobody may change its CPUs


def _no_setaffinity(reader: Reader, pid: str, tid: str) -> bool:
    """Does the kernel forbid changing this task's CPUs (workqueue rescuers, per-CPU
    kthreads)? From the flags field of /proc/PID/task/TID/stat."""
    text = reader.read(f"proc/{pid}/task/{tid}/stat", keep=False) or ""
    fields = text.rpartition(")")[2].split()
    try:
        return bool(int(fields[6]) & PF_NO_SETAFFINITY)
    except (IndexError, ValueError):
        return False


def _affinity(reader: Reader, pid: str, tid: str) -> frozenset[int] | None:
    """A task's allowed CPUs: one sched_getaffinity call on a live host (no file to parse)."""
    if reader.root == "/":
        try:
            return frozenset(os.sched_getaffinity(int(tid)))
        except OSError:
            return None  # the task exited
    text = reader.read(f"proc/{pid}/task/{tid}/status", keep=False)
    if text is None:
        return None
    try:
        return cpulist.parse(parsers.parse_status(text).get("Cpus_allowed_list", ""))
    except cpulist.CpuListError:
        return None


def _daemon(reader: Reader, pid: str, name: str) -> dict[str, Any]:
    cmdline = reader.read(f"proc/{pid}/cmdline", keep=False) or ""
    status = parsers.parse_status(reader.read(f"proc/{pid}/status", keep=False) or "")
    entry: dict[str, Any] = {
        "pid": int(pid),
        "comm": name,
        "cmdline": cmdline.replace("\0", " ").strip(),
        "cpus_allowed": status.get("Cpus_allowed_list", ""),
    }
    if name == "irqbalance":
        environ = reader.read(f"proc/{pid}/environ", keep=False)
        entry["environ"] = (
            None
            if environ is None
            else [e for e in environ.split("\0") if e.startswith("IRQBALANCE_")]
        )
    return entry


def read_tasks(
    reader: Reader, watch: frozenset[int]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Tasks allowed on a watched CPU, every task counted by its allowed CPUs, and the
    daemons the controls ask about. Files are read only for the tasks that matter."""
    found: list[dict[str, Any]] = []
    daemons: list[dict[str, Any]] = []
    groups: dict[frozenset[int], int] = {}
    total = 0
    for pid in os.listdir(reader.path("proc")):
        if not pid.isdigit():
            continue
        name = (reader.read(f"proc/{pid}/comm", keep=False) or "").strip()
        if name in DAEMONS:
            daemons.append(_daemon(reader, pid, name))
        try:
            tids = os.listdir(reader.path(f"proc/{pid}/task"))
        except OSError:
            continue
        for tid in tids:
            allowed = _affinity(reader, pid, tid)
            if allowed is None:
                continue
            total += 1
            groups[allowed] = groups.get(allowed, 0) + 1
            if not (watch and allowed & watch) or len(found) >= MAX_TASKS:
                continue
            status = parsers.parse_status(
                reader.read(f"proc/{pid}/task/{tid}/status", keep=False) or ""
            )
            found.append(
                {
                    "pid": int(pid),
                    "tid": int(tid),
                    "comm": status.get("Name", name),
                    "cpus": cpulist.render(allowed),
                    "kthread": pid == "2"
                    or status.get("PPid") == "2"
                    or status.get("Kthread") == "1",
                    "fixed": _no_setaffinity(reader, pid, tid),
                }
            )
    summary = {
        "watched": cpulist.render(watch),
        "total": total,
        "capped": len(found) >= MAX_TASKS,
        "groups": {cpulist.render(cpus): count for cpus, count in groups.items()},
    }
    return {**summary, "list": found}, daemons


def read_kmsg(reader: Reader) -> dict[str, Any]:
    """Kernel messages about isolation and boot arguments, from /dev/kmsg (non-blocking)."""
    lines: list[str] = []
    source = "/dev/kmsg"
    try:
        fd = os.open(reader.path("dev/kmsg"), os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        return {"source": source, "error": exc.strerror, "lines": []}
    try:
        while True:
            try:
                record = os.read(fd, 8192)
            except BlockingIOError:
                break
            except OSError as exc:
                if exc.errno == 32:  # EPIPE: the ring buffer wrapped under us; keep reading
                    continue
                break
            if not record:
                break
            parsed = parsers.parse_kmsg(record.decode(errors="replace"))
            if parsed and any(p in parsed["msg"].lower() for p in KMSG_PATTERNS):
                lines.append(parsed["msg"])
    finally:
        os.close(fd)
    return {"source": source, "error": None, "lines": lines[-MAX_KMSG:]}


def read_nics(reader: Reader, names: list[str]) -> dict[str, dict[str, Any]]:
    result: dict[str, dict[str, Any]] = {}
    for name in names:
        result[name] = {flag: run(["ethtool", f"-{flag}", name]) for flag in ("c", "g", "k", "T")}
    return result


def _is_socket(path: str) -> bool:
    try:
        return stat.S_ISSOCK(os.stat(path).st_mode)
    except OSError:
        return False


PMC_QUERY = ("GET CURRENT_DATA_SET", "GET PORT_DATA_SET", "GET TIME_STATUS_NP")


def read_ptp(
    reader: Reader, *, window: float, interval: float, sockets: str | None, domain: int
) -> dict[str, Any]:
    """pmc answers of every ptp4l UDS socket (/run/ptp4l*, or the ones given)."""
    if sockets:
        found = [s for s in sockets.split(",") if s]
    else:
        found = [
            os.path.realpath(reader.path(p))
            for p in reader.glob("var/run/ptp4l*") + reader.glob("run/ptp4l*")
        ]
    sockets_found = sorted({s for s in found if _is_socket(s)})
    samples: dict[str, list[dict[str, Any]]] = {}
    if shutil.which("pmc") is None:
        return {"pmc": False, "sockets": sockets_found, "samples": samples}
    # pmc's own client socket (default /var/run/pmc.PID) outlives a pmc killed on its
    # timeout: each pmc binds one in a directory of the collector's, removed after each
    # run and, with the directory, on the way out.
    private = _private_dir("colotune-pmc") if sockets_found else None
    client = ["-i", os.path.join(private, "pmc")] if private else []
    deadline = time.monotonic() + window
    first = True
    try:
        while first or time.monotonic() < deadline:
            for sock in sockets_found:
                out = run(
                    ["pmc", "-u", *client, "-b", "0", "-d", str(domain), "-s", sock, *PMC_QUERY],
                    timeout=3.0,
                )
                _remove(client[1:])
                samples.setdefault(sock, []).append(
                    {"t": round(time.time(), 3), "rc": out["rc"], "out": out["out"]}
                )
            first = False
            if window <= 0:
                break
            time.sleep(interval)
    finally:
        _remove(client[1:])
        if private:
            _remove([private])
    return {"pmc": True, "sockets": sockets_found, "samples": samples}


def _private_dir(prefix: str) -> str | None:
    """A new directory under /tmp only this user can enter (short: a socket path has
    108 bytes), or None when /tmp takes none."""
    for n in range(100):
        path = f"/tmp/{prefix}.{os.getpid()}.{n}"
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            continue
        except OSError:
            return None
        return path
    return None


def _remove(paths: list[str]) -> None:
    for path in paths:
        try:
            if os.path.isdir(path) and not os.path.islink(path):
                os.rmdir(path)
            else:
                os.unlink(path)
        except OSError:
            pass


def read_systemd(reader: Reader, daemons: list[dict[str, Any]]) -> dict[str, Any]:
    if not os.path.isdir(reader.path("run/systemd/system")):
        return {"running": False}
    props = "Id,LoadState,ActiveState,SubState,UnitFileState,MainPID"
    show = run(["systemctl", "show", f"--property={props}", "--no-pager", *UNITS])
    result: dict[str, Any] = {"running": True, "show": show}
    if any(d["comm"] == "phc2sys" for d in daemons):
        result["phc2sys_log"] = run(
            ["journalctl", "-u", "phc2sys*", "-n", "40", "-o", "short-monotonic", "--no-pager"]
        )
    return result


def parse_args(argv: list[str]) -> dict[str, Any]:
    options: dict[str, Any] = {
        "watch_cpus": None,
        "irq_window": 0.0,
        "ptp_window": 0.0,
        "ptp_interval": 0.5,
        "root": "/",
        "pmc_sockets": None,
        "nics": None,
        "pmc_domain": 0.0,
    }
    i = 0
    while i < len(argv):
        key = argv[i].lstrip("-").replace("-", "_")
        if key not in options or i + 1 >= len(argv):
            raise SystemExit(f"collector: unknown option or missing value: {argv[i]}")
        value = argv[i + 1]
        text_options = ("watch_cpus", "root", "pmc_sockets", "nics")
        options[key] = value if key in text_options else float(value)
        i += 2
    return options


def collect(argv: list[str]) -> dict[str, Any]:
    started = time.monotonic()
    options = parse_args(argv)
    reader = Reader(options["root"])
    pinning = pin(reader)
    read_cpu_files(reader)
    read_memory_and_kernel(reader)
    hugetlbfs = read_hugetlbfs(reader)
    irqs = read_irqs(reader)
    first_interrupts = reader.files.get("proc/interrupts")
    if options["watch_cpus"] is not None:
        watch = cpulist.parse(options["watch_cpus"])
    else:
        watch = housekeeping_watch(reader)
    tasks, daemons = read_tasks(reader, watch)
    topo, topo_files = topology.snapshot(options["root"])
    wanted = [n for n in (options["nics"] or "").split(",") if n]
    nics = read_nics(reader, [n for n in sorted(topo.nics) if not wanted or n in wanted])
    ptp = read_ptp(
        reader,
        window=options["ptp_window"],
        interval=options["ptp_interval"],
        sockets=options["pmc_sockets"],
        domain=int(options["pmc_domain"]),
    )
    systemd = read_systemd(reader, daemons)
    kmsg = read_kmsg(reader)
    window: dict[str, Any] | None = None
    if options["irq_window"] > 0:
        t0 = time.monotonic()
        time.sleep(options["irq_window"])
        after = reader.read("proc/interrupts", keep=False)
        window = {
            "seconds": round(time.monotonic() - t0, 3),
            "before": first_interrupts,
            "after": after,
        }
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_ms = (me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime) * 1000
    return {
        "format": FORMAT,
        "hostname": os.uname().nodename,
        "time": round(time.time(), 3),
        "collector": {
            **pinning,
            "cpu_ms": round(cpu_ms, 1),
            "cpu_ms_children": round((kids.ru_utime + kids.ru_stime) * 1000, 1),
            "wall_ms": round((time.monotonic() - started) * 1000, 1),
            "python": sys.version.split()[0],
            "uid": os.getuid(),
            "options": {k: v for k, v in options.items() if k != "root"},
        },
        "virtualization": topo.virtualization,
        "topology": topo_files,
        "files": reader.files,
        "hugetlbfs": hugetlbfs,
        "irqs": irqs,
        "tasks": tasks,
        "daemons": daemons,
        "nics": nics,
        "ptp": ptp,
        "systemd": systemd,
        "kmsg": kmsg,
        "interrupt_window": window,
    }


def main(argv: list[str] | None = None) -> int:
    snapshot = collect(sys.argv[1:] if argv is None else argv)
    sys.stdout.write(json.dumps(snapshot, separators=(",", ":")))
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
