"""Hand-built collector snapshots for the control tests: a tuned host, then drift by hand.

The host is the recorded dual-socket Xeon (tests/fixtures/topology/
xeon-gold-5122-2s.tar.gz, Solarflare NIC on node 1); its plan comes from
colotune.plan. `tuned()` is what that host looks like when every control
passes; each test changes one thing. Command outputs come from recorded
fixtures (tests/fixtures/facts/) where a control reads them.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

from colotune import checks
from colotune.host import cpulist, topology
from colotune.plan import Plan, make_plan
from colotune.profile import HostProfile

REPO = Path(__file__).resolve().parents[2]
FACTS = REPO / "tests" / "fixtures" / "facts"
XEON = REPO / "tests" / "fixtures" / "topology" / "xeon-gold-5122-2s.tar.gz"
NIC = "ens1f0np0"
CPU = "sys/devices/system/cpu"


def fixture(name: str) -> str:
    return (FACTS / name).read_text()


@cache
def _topology_files() -> dict[str, Any]:
    with topology.open_tree(XEON) as tree:
        _, files = topology.snapshot(tree.root)
    return files


def profile(**overrides: Any) -> HostProfile:
    return HostProfile(**{"tuning_nic": NIC, "tuning_hugepages_1g": 2, **overrides})


def plan(**overrides: Any) -> Plan:
    topo = topology.from_snapshot(_topology_files())
    return make_plan(topo, profile(**overrides), host="ny4-test01")


def pmc_text(
    *,
    state: str = "SLAVE",
    offset: float = 12.0,
    gm_present: bool = True,
    ingress: int | None = None,
) -> str:
    """pmc's answer in the layout linuxptp 3.1 prints (tests/fixtures/facts/this-machine/).

    `ingress` is TIME_STATUS_NP's ingress_time (receive time of the last Sync): the same
    value in consecutive samples means no new Sync arrived.
    """
    ingress_line = f"\t\tingress_time               {ingress}\n" if ingress is not None else ""
    return (
        "sending: GET CURRENT_DATA_SET\n"
        "\t5aa81f.fffe.6c196a-0 seq 0 RESPONSE MANAGEMENT CURRENT_DATA_SET \n"
        "\t\tstepsRemoved     1\n"
        f"\t\toffsetFromMaster {offset:.1f}\n"
        "\t\tmeanPathDelay    2388.0\n"
        "\t5aa81f.fffe.6c196a-1 seq 1 RESPONSE MANAGEMENT PORT_DATA_SET \n"
        "\t\tportIdentity            5aa81f.fffe.6c196a-1\n"
        f"\t\tportState               {state}\n"
        "\t5aa81f.fffe.6c196a-0 seq 2 RESPONSE MANAGEMENT TIME_STATUS_NP \n"
        f"\t\tmaster_offset              {int(offset)}\n"
        + ingress_line
        + f"\t\tgmPresent                  {'true' if gm_present else 'false'}\n"
        "\t\tgmIdentity                 8e5546.fffe.93f3d7\n"
    )


def tuned(p: Plan | None = None) -> dict[str, Any]:
    """The snapshot of the Xeon host with its plan fully in effect."""
    p = p or plan()
    topo_files = _topology_files()
    topo = topology.from_snapshot(topo_files)
    online = topo.online_cpus
    iso = p.cpus("isolated_cpus")
    irq = p.cpus("irq_cpus")
    files: dict[str, str | None] = {
        "proc/cmdline": "BOOT_IMAGE=/vmlinuz root=/dev/sda1 ro " + " ".join(p.kernel_args) + "\n",
        f"{CPU}/online": cpulist.render(online) + "\n",
        f"{CPU}/isolated": p.isolated_cpus + "\n",
        f"{CPU}/nohz_full": p.isolated_cpus + "\n",
        f"{CPU}/intel_pstate/no_turbo": "0\n",
        "proc/swaps": "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n",
        "proc/sys/kernel/numa_balancing": "0\n",
        "proc/sys/kernel/timer_migration": "0\n",
        "proc/sys/kernel/nmi_watchdog": "0\n",
        "proc/sys/kernel/soft_watchdog": "0\n",
        "proc/sys/kernel/watchdog": "0\n",
        "proc/sys/vm/swappiness": "0\n",
        "proc/sys/vm/stat_interval": "10\n",
        "proc/sys/kernel/sched_rt_runtime_us": "-1\n",
        "sys/kernel/mm/transparent_hugepage/enabled": "always madvise [never]\n",
        "sys/kernel/mm/ksm/run": "0\n",
        "sys/devices/virtual/workqueue/cpumask": format(
            sum(1 << c for c in p.cpus("housekeeping_cpus")), "x"
        )
        + "\n",
        "proc/irq/default_smp_affinity": format(sum(1 << c for c in irq), "x") + "\n",
    }
    for cpu in online:
        base = f"{CPU}/cpu{cpu}"
        files[f"{base}/cpufreq/scaling_governor"] = "performance\n"
        files[f"{base}/cpufreq/energy_performance_preference"] = "performance\n"
        # intel_pstate on a Xeon Gold 5122 (1.2 GHz lowest, 3.7 GHz turbo): the floor left
        # where the driver puts it, as on a host whose profile leaves tuning_min_freq alone
        files[f"{base}/cpufreq/cpuinfo_min_freq"] = "1200000\n"
        files[f"{base}/cpufreq/cpuinfo_max_freq"] = "3700000\n"
        files[f"{base}/cpufreq/scaling_min_freq"] = "1200000\n"
        files[f"{base}/cpufreq/scaling_max_freq"] = "3700000\n"
        for state, (name, latency, disabled) in enumerate(
            [("POLL", 0, "0"), ("C1", 2, "0"), ("C1E", 10, "1"), ("C6", 133, "1")]
        ):
            files[f"{base}/cpuidle/state{state}/name"] = name + "\n"
            files[f"{base}/cpuidle/state{state}/latency"] = f"{latency}\n"
            files[f"{base}/cpuidle/state{state}/disable"] = disabled + "\n"
    for node, sizes in p.hugepages.items():
        pool = f"sys/devices/system/node/node{node}/hugepages/hugepages-1048576kB"
        files[f"{pool}/nr_hugepages"] = f"{sizes['1G']}\n"
        files[f"{pool}/free_hugepages"] = f"{sizes['1G']}\n"  # the engine has not started
    nic = topo.nics[NIC]
    header = "           " + "".join(f"CPU{c:<8}" for c in sorted(online)) + "\n"
    rows = [" LOC:" + "".join(f"{1000:>11}" for _ in online) + "   Local timer interrupts\n"]
    irqs: dict[str, dict[str, str | None]] = {}
    first_irq = cpulist.render([min(irq)])
    for n, number in enumerate(nic.irqs):
        rows.append(
            f"{number:>4}:"
            + "".join(f"{5:>11}" for _ in online)
            + f"  PCI-MSIX-0000:af:00.0 {n}-edge      {NIC}-{n}\n"
        )
        irqs[str(number)] = {"effective": first_irq, "affinity": p.irq_cpus}
    rows.append("  24:" + "".join(f"{1:>11}" for _ in online) + "  IO-APIC   9-fasteoi   acpi\n")
    irqs["24"] = {"effective": first_irq, "affinity": p.irq_cpus}
    files["proc/interrupts"] = header + "".join(rows)
    return {
        "format": 1,
        "hostname": "ny4-test01",
        "time": 1795318982.0,
        "collector": {
            "affinity_before": p.housekeeping_cpus,
            "housekeeping": p.housekeeping_cpus,
            "affinity": p.housekeeping_cpus,
            "pinned": True,
            "error": None,
            "cpu_ms": 31.0,
        },
        "virtualization": None,
        "topology": copy.deepcopy(topo_files),
        "files": files,
        # systemd's own 2 MiB mount, and roles/tuning's 1 GiB one for the trader's group
        "hugetlbfs": {
            "/dev/hugepages": {
                "options": "rw,relatime,pagesize=2M",
                "mode": "0755",
                "uid": 0,
                "gid": 0,
                "group": "root",
            },
            "/dev/hugepages1G": {
                "options": "rw,relatime,gid=997,mode=1770,pagesize=1024M",
                "mode": "1770",
                "uid": 0,
                "gid": 997,
                "group": "trader",
            },
        },
        "irqs": irqs,
        "tasks": {
            "watched": p.isolated_cpus,
            "total": 300,
            "capped": False,
            "groups": {p.housekeeping_cpus: 280, "2": 4},
            "list": [
                {
                    "pid": 31,
                    "tid": 31,
                    "comm": f"ksoftirqd/{min(iso)}",
                    "cpus": str(min(iso)),
                    "kthread": True,
                },
                *(
                    {"pid": 4242, "tid": 4243 + i, "comm": name, "cpus": str(cpu), "kthread": False}
                    for i, (name, cpu) in enumerate(p.threads.items())
                ),
            ],
        },
        "daemons": [
            {
                "pid": 900,
                "comm": "ptp4l",
                "cmdline": f"/usr/sbin/ptp4l -i {NIC}",
                "cpus_allowed": "0",
            },
            {
                "pid": 901,
                "comm": "phc2sys",
                "cmdline": "/usr/sbin/phc2sys -a -r",
                "cpus_allowed": "0",
            },
        ],
        "nics": {
            NIC: {
                "c": {
                    "argv": ["ethtool", "-c", NIC],
                    "rc": 0,
                    "out": fixture("this-machine/ethtool-c-eth0.txt"),
                    "err": "",
                },
                "T": {
                    "argv": ["ethtool", "-T", NIC],
                    "rc": 0,
                    "out": fixture("public/hwts-ethtool-T.txt"),
                    "err": "",
                },
            }
        },
        "ptp": {
            "pmc": True,
            "sockets": ["/run/ptp4l"],
            "samples": {"/run/ptp4l": [{"t": 1.0, "rc": 0, "out": pmc_text()}]},
        },
        "systemd": {
            "running": True,
            "phc2sys_log": {
                "rc": 0,
                "out": (
                    "[ 100.1] h phc2sys[901]: CLOCK_REALTIME phc offset -12 s2 freq -3 delay 500\n"
                    "[ 101.1] h phc2sys[901]: CLOCK_REALTIME phc offset 9 s2 freq -1 delay 510\n"
                ),
                "err": "",
            },
        },
        "kmsg": {
            "source": "/dev/kmsg",
            "error": None,
            "lines": [
                f"rcu: \tOffload RCU callbacks from CPUs: {p.isolated_cpus}.",
                f"NO_HZ: Full dynticks CPUs: {p.isolated_cpus}.",
            ],
        },
        "interrupt_window": None,
    }


def units(show: str) -> Callable[[dict[str, Any]], None]:
    """A change to a snapshot: `systemctl show` of the units the collector asks about
    printed show."""

    def change(raw: dict[str, Any]) -> None:
        raw["systemd"]["show"] = {"rc": 0, "out": show, "err": ""}

    return change


# One control case: the control, a change to the tuned host's snapshot, the profile's
# overrides, the status expected, and a text the result's explanation must contain.
Case = tuple[str, Callable[[dict[str, Any]], None], dict[str, Any], str, str]


def case_ids(cases: list[Case]) -> list[str]:
    """The test ids of cases: control, status and position."""
    return [f"{c[0]}-{c[3]}-{i}" for i, c in enumerate(cases)]


def check_case(case: Case, p: Plan) -> checks.Result:
    """The case's control on the tuned host of plan p after the case's change: asserts the
    status and the text, and returns the result."""
    control, change, overrides, status, text = case
    raw = tuned(p)
    change(raw)
    result = checks.run(control, p, raw, profile(**overrides))
    assert result.status == status, result.explain()
    assert text in result.explain(), result.explain()
    return result
