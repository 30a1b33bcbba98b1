"""The plan on recorded topologies: exact results, and every pinned value checked."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from colotune import profile
from colotune.host import topology
from colotune.plan import Plan, PlanError, check_plan, make_plan

Fixture = Callable[[str], Path]

BASE_ARGS = [
    "skew_tick=1",
    "tsc=reliable",
    "nosoftlockup",
    "nmi_watchdog=0",
    "transparent_hugepage=never",
]
C1 = ["processor.max_cstate=1", "intel_idle.max_cstate=0"]


def plan_for(topology_fixture: Fixture, name: str, **variables: Any) -> Plan:
    topo = topology.load(topology_fixture(name))
    plan = make_plan(topo, profile.build(variables, host="h1"), host="h1")
    assert check_plan(plan, topo) == []
    return plan


def isolation(cpus: str, housekeeping: str) -> list[str]:
    return [
        f"isolcpus=managed_irq,domain,{cpus}",
        f"nohz_full={cpus}",
        f"rcu_nocbs={cpus}",
        f"irqaffinity={housekeeping}",
    ]


def test_xeon_interleaved_nic_on_node_1(topology_fixture: Fixture) -> None:
    plan = plan_for(
        topology_fixture, "xeon-gold-5122-2s", tuning_nic="ens1f0np0", tuning_hugepages_1g=4
    )
    assert plan.model_dump() == {
        "host": "h1",
        "housekeeping_cpus": "0-2,4,6,8-10,12,14",
        "isolated_cpus": "3,5,7,11,13,15",
        "idle_cpus": "",
        "irq_cpus": "1,9",
        "numa_node": 1,
        "nic": {
            "name": "ens1f0np0",
            "numa_node": 1,
            "pci_address": "0000:d8:00.0",
            "driver": "sfc",
        },
        "hugepages": {"0": {"1G": 0}, "1": {"1G": 4}},
        "hugepages_runtime": True,  # kernel 4.18 has no per-node hugepages= syntax
        "kernel_args": [
            *isolation("3,5,7,11,13,15", "0-2,4,6,8-10,12,14"),
            *BASE_ARGS,
            "default_hugepagesz=1G",
            "hugepagesz=1G",
            *C1,
        ],
        "threads": {"t2t-hot": 3},
        "ptp": {"interface": "ens1f0np0", "phc_index": 2},
        "explanations": plan.explanations,
    }
    assert plan.explanations[0] == "trading node 1: the node of NIC ens1f0np0"


@pytest.mark.parametrize(
    ("fixture", "nic", "isolated", "idle", "threads"),
    [
        # interleaved numbering, SMT siblings 8 apart
        ("xeon-gold-5122-2s", "ens1f0np0", "3,5,7,11,13,15", "11,13,15", (3, 5, 7)),
        # qemu's numbering: siblings adjacent
        ("lab-2s4c2t", "ens1", "10-15", "11,13,15", (10, 12, 14)),
    ],
)
def test_idle_sibling_leaves_one_thread_of_each_trading_core_idle(
    topology_fixture: Fixture,
    fixture: str,
    nic: str,
    isolated: str,
    idle: str,
    threads: tuple[int, ...],
) -> None:
    plan = plan_for(
        topology_fixture,
        fixture,
        tuning_nic=nic,
        tuning_smt="idle_sibling",
        trader_threads=["a", "b", "c"],
    )
    assert (plan.isolated_cpus, plan.idle_cpus) == (isolated, idle)
    assert plan.threads == dict(zip("abc", threads, strict=True))
    assert plan.usable_cpus == set(threads)


def test_xeon_two_isolated_cores_and_per_node_pages(topology_fixture: Fixture) -> None:
    plan = plan_for(
        topology_fixture,
        "xeon-gold-5122-2s",
        tuning_nic="ens1f0np0",
        tuning_isolated_cores=2,
        tuning_hugepages_1g={0: 1, 1: 8},
    )
    assert plan.isolated_cpus == "3,5,11,13"
    assert plan.housekeeping_cpus == "0-2,4,6-10,12,14-15"
    assert plan.hugepages == {"0": {"1G": 1}, "1": {"1G": 8}}


def test_hybrid_isolates_performance_cores_only(topology_fixture: Fixture) -> None:
    plan = plan_for(
        topology_fixture, "alderlake-i9-12900k", tuning_nic="enp5s0", tuning_hugepages_1g=2
    )
    assert plan.isolated_cpus == "2-15"
    assert plan.housekeeping_cpus == "0-1,16-23"
    assert plan.irq_cpus == "0-1,16-23"
    assert plan.numa_node == 0  # the NIC says -1; one node
    assert plan.hugepages_runtime is False
    assert plan.kernel_args == [
        *isolation("2-15", "0-1,16-23"),
        *BASE_ARGS,
        "default_hugepagesz=1G",
        "hugepagesz=1G",
        "hugepages=0:2",
        *C1,
    ]
    assert "hybrid CPU: only performance cores are isolated" in plan.explanations


def test_this_machine(topology_fixture: Fixture) -> None:
    plan = plan_for(topology_fixture, "this-machine", tuning_nic="eth0", tuning_idle="poll")
    assert (plan.housekeeping_cpus, plan.isolated_cpus, plan.irq_cpus) == ("0", "1", "0")
    assert plan.kernel_args == [*isolation("1", "0"), *BASE_ARGS, "idle=poll"]
    assert plan.threads == {"t2t-hot": 1}


def test_planned_by_node_before_the_nic_is_known(topology_fixture: Fixture) -> None:
    plan = plan_for(topology_fixture, "xeon-gold-5122-2s", tuning_numa_node=0)
    assert plan.nic.name is None
    assert plan.isolated_cpus == "2,4,6,10,12,14"  # CPU 0's core stays housekeeping


def test_pinned_values_win(topology_fixture: Fixture) -> None:
    plan = plan_for(
        topology_fixture,
        "xeon-gold-5122-2s",
        tuning_nic="ens1f0np0",
        tuning_isolated_cpus="5,7,13,15",
        tuning_irq_cpus="3,11",
        trader_threads=["x", "y"],
        trader_thread_cpus={"y": 15},
    )
    assert plan.isolated_cpus == "5,7,13,15"
    assert plan.irq_cpus == "3,11"
    assert plan.threads == {"y": 15, "x": 5}


def test_housekeeping_pinned_isolates_the_rest(topology_fixture: Fixture) -> None:
    plan = plan_for(
        topology_fixture,
        "xeon-gold-5122-2s",
        tuning_nic="ens1f0np0",
        tuning_housekeeping_cpus="0-1,8-9",
    )
    assert plan.isolated_cpus == "2-7,10-15"
    assert any("not on the trading node" in why for why in plan.explanations)


def test_mitigations_and_extra_args(topology_fixture: Fixture) -> None:
    plan = plan_for(
        topology_fixture,
        "this-machine",
        tuning_nic="eth0",
        tuning_mitigations_off=True,
        tuning_kernel_args_extra=["audit=0"],
        tuning_idle="default",
    )
    assert plan.kernel_args[-2:] == ["mitigations=off", "audit=0"]


@pytest.mark.parametrize(
    ("variables", "says"),
    [
        ({"tuning_nic": "eth9"}, "tuning_nic='eth9': no such NIC on this host (NICs: ens1f0np0)"),
        (
            {"tuning_isolated_cpus": "3,11,40"},
            "CPU 40 does not exist on this host (it has CPUs 0-15)",
        ),
        ({"tuning_isolated_cpus": "3,5,7"}, "splits the core of CPUs 3,11 (SMT siblings)"),
        ({"tuning_isolated_cpus": "0,8"}, "includes CPU 0"),
        ({"tuning_isolated_cpus": "1,3,5,7,9,11,13,15"}, "isolates every CPU of node 1"),
        (
            {"tuning_hugepages_1g": 48},
            "48 x 1 GiB on node 1 does not fit: the node has 49152 MiB and keeps 1024 MiB free "
            "(tuning_hugepages_min_free_mb), so at most 47",
        ),
        ({"tuning_hugepages_1g": {3: 1}}, "no NUMA node 3"),
        ({"tuning_numa_node": 0}, "NIC ens1f0np0 is on node 1"),
        ({"tuning_isolated_cores": 9}, "at most 3"),
        ({"tuning_housekeeping_cores_per_node": 4}, "leaves no CPU to isolate"),
        (
            {"trader_threads": ["a", "b", "c", "d", "e", "f", "g"]},
            "7 latency-critical threads need 7 isolated CPUs",
        ),
        ({"trader_thread_cpus": {"t2t-hot": 1}}, "not an isolated CPU for use"),
        ({"tuning_kernel_args_extra": ["isolcpus=3"]}, "isolcpus is set by the plan itself"),
        ({"tuning_housekeeping_cpus": "0-2,8-9"}, "splits the core of CPUs 2,10"),
    ],
)
def test_refused_with_host_variable_value_and_what_is_valid(
    topology_fixture: Fixture, variables: dict[str, Any], says: str
) -> None:
    topo = topology.load(topology_fixture("xeon-gold-5122-2s"))
    prof = profile.build({"tuning_nic": "ens1f0np0", **variables}, host="ny4-t1")
    with pytest.raises(PlanError) as caught:
        make_plan(topo, prof, host="ny4-t1")
    assert says in str(caught.value)
    assert "host ny4-t1:" in str(caught.value)


def test_offline_cpu_pinned(topology_tree: Fixture) -> None:
    root = topology_tree("xeon-gold-5122-2s")
    (root / "sys/devices/system/cpu/online").write_text("0-4,6-15\n")
    topo = topology.load(root)
    prof = profile.build({"tuning_nic": "ens1f0np0", "tuning_isolated_cpus": "5,13"})
    with pytest.raises(PlanError, match="CPU 5 is offline"):
        make_plan(topo, prof)
    # Derived: the core of 5 is only 13 now, and a whole core all the same.
    plan = make_plan(topo, profile.build({"tuning_nic": "ens1f0np0"}))
    assert plan.isolated_cpus == "3,7,11,13,15"
    assert check_plan(plan, topo) == []


def test_nic_without_node_on_a_two_node_host(topology_tree: Fixture) -> None:
    root = topology_tree("xeon-gold-5122-2s")
    (root / "sys/devices/pci0000:d7/0000:d8:00.0/numa_node").write_text("-1\n")
    topo = topology.load(root)
    with pytest.raises(PlanError, match="reports no NUMA node .-1. on a host with nodes"):
        make_plan(topo, profile.build({"tuning_nic": "ens1f0np0"}))
    plan = make_plan(topo, profile.build({"tuning_nic": "ens1f0np0", "tuning_numa_node": 1}))
    assert plan.numa_node == 1


def test_plan_json_round_trip(topology_fixture: Fixture) -> None:
    plan = plan_for(topology_fixture, "xeon-gold-5122-2s", tuning_nic="ens1f0np0")
    again = Plan.model_validate_json(plan.model_dump_json())
    assert again == plan


def test_the_plan_names_the_ptp_interface_once_for_the_role_and_the_audit(
    topology_fixture: Fixture,
) -> None:
    # ptp_interface wins over the trading NIC; its clock is the one the topology shows
    plan = plan_for(topology_fixture, "lab-2s4c2t", tuning_nic="ens1", ptp_interface="enp0s3")
    assert plan.ptp is not None and plan.ptp.model_dump() == {
        "interface": "enp0s3",
        "phc_index": None,  # virtio-net: no PTP hardware clock
    }
    off = plan_for(topology_fixture, "lab-2s4c2t", tuning_nic="ens1", ptp_enabled=False)
    assert off.ptp is None


def test_check_plan_catches_a_hand_edited_plan(topology_fixture: Fixture) -> None:
    topo = topology.load(topology_fixture("xeon-gold-5122-2s"))
    plan = make_plan(topo, profile.build({"tuning_nic": "ens1f0np0"}))
    broken = plan.model_copy(update={"isolated_cpus": "3,5,7", "irq_cpus": "3"})
    problems = check_plan(broken, topo)
    assert any("split" in p for p in problems)
    assert any("IRQ CPUs" in p for p in problems)


LAB_ARGS = ["default_hugepagesz=1G", "hugepagesz=1G"]


def test_lab_2s4c2t_nic_behind_a_numa_node_1_bridge(topology_fixture: Fixture) -> None:
    plan = plan_for(topology_fixture, "lab-2s4c2t", tuning_nic="ens1", tuning_hugepages_1g=1)
    assert plan.model_dump(exclude={"explanations"}) == {
        "host": "h1",
        "housekeeping_cpus": "0-9",
        "isolated_cpus": "10-15",
        "idle_cpus": "",
        "irq_cpus": "8-9",
        "numa_node": 1,
        "nic": {"name": "ens1", "numa_node": 1, "pci_address": "0000:81:00.0", "driver": "e1000e"},
        "hugepages": {"0": {"1G": 0}, "1": {"1G": 1}},
        "hugepages_runtime": False,
        "kernel_args": [
            *isolation("10-15", "0-9"),
            *BASE_ARGS,
            *LAB_ARGS,
            "hugepages=0:0,1:1",
            *C1,
        ],
        "threads": {"t2t-hot": 10},
        "ptp": {"interface": "ens1", "phc_index": 0},
    }


def test_lab_1s4c_single_node(topology_fixture: Fixture) -> None:
    plan = plan_for(topology_fixture, "lab-1s4c", tuning_nic="ens1", tuning_hugepages_1g=1)
    assert (plan.housekeeping_cpus, plan.isolated_cpus, plan.irq_cpus) == ("0", "1-3", "0")
    assert plan.hugepages == {"0": {"1G": 1}}
    assert plan.kernel_args == [*isolation("1-3", "0"), *BASE_ARGS, *LAB_ARGS, "hugepages=0:1", *C1]
    with pytest.raises(PlanError, match="2 x 1 GiB on node 0 does not fit: the node has 2904 MiB"):
        make_plan(
            topology.load(topology_fixture("lab-1s4c")),
            profile.build({"tuning_nic": "ens1", "tuning_hugepages_1g": 2}),
        )


def test_lab_recorded_offline_cpu(topology_fixture: Fixture) -> None:
    topo = topology.load(topology_fixture("lab-2s4c2t-cpu5-offline"))
    assert topo.offline_cpus == {5}
    assert topo.core_of(4) == {4}
    plan = plan_for(topology_fixture, "lab-2s4c2t-cpu5-offline", tuning_nic="ens1")
    assert (plan.housekeeping_cpus, plan.isolated_cpus) == ("0-4,6-9", "10-15")
    with pytest.raises(PlanError, match="CPU 5 is offline"):
        make_plan(topo, profile.build({"tuning_nic": "ens1", "tuning_housekeeping_cpus": "0-5"}))


def test_management_nic_without_node(topology_fixture: Fixture) -> None:
    # The lab's virtio management NIC reports numa_node -1 on a two-node host.
    with pytest.raises(PlanError, match="enp0s3 reports no NUMA node"):
        plan_for(topology_fixture, "lab-2s4c2t", tuning_nic="enp0s3")


def refusal(topo: topology.Topology, **variables: Any) -> str:
    with pytest.raises(PlanError) as caught:
        make_plan(topo, profile.build(variables, host="h1"), host="h1")
    return str(caught.value)


def test_nic_on_a_memory_only_node_is_refused_with_the_reason(topology_fixture: Fixture) -> None:
    topo = topology.load(topology_fixture("memory-tiers-5node"))
    message = refusal(topo, tuning_nic="ens2f0")
    assert (
        "NIC ens2f0 is on node 2, but node 2 has no CPUs (memory-only: CXL/HBM); the trading "
        "CPUs must be on a node with CPUs: set tuning_numa_node to 0 (the nearest; nodes with "
        "CPUs: 0, 1)"
    ) in message
    assert "isolate" not in message


def test_memory_only_node_pinned_is_refused(topology_fixture: Fixture) -> None:
    topo = topology.load(topology_fixture("memory-tiers-5node"))
    message = refusal(topo, tuning_numa_node=4)
    assert "tuning_numa_node=4: node 4 has no CPUs (memory-only: CXL/HBM)" in message
    assert "isolate" not in message


def test_nic_on_a_memory_only_node_with_a_cpu_node_named(topology_fixture: Fixture) -> None:
    plan = plan_for(topology_fixture, "memory-tiers-5node", tuning_nic="ens2f0", tuning_numa_node=1)
    assert (plan.numa_node, plan.isolated_cpus, plan.housekeeping_cpus) == (1, "3", "0-2")
    assert "trading node 1: tuning_numa_node (NIC ens2f0 is on node 2, which has no CPUs)" in (
        plan.explanations
    )


def test_node_with_every_cpu_offline_is_refused(topology_tree: Fixture) -> None:
    root = topology_tree("xeon-gold-5122-2s")
    (root / "sys/devices/system/cpu/online").write_text("0,2,4,6,8,10,12,14\n")
    message = refusal(topology.load(root), tuning_nic="ens1f0np0")
    assert (
        "node 1 has no online CPUs (CPUs 1,3,5,7,9,11,13,15 are offline); the trading CPUs "
        "must be on a node with CPUs: set tuning_numa_node to 0"
    ) in message


def test_nic_on_a_node_that_is_not_online(topology_fixture: Fixture) -> None:
    # A device's numa_node names a node that the kernel does not list as online (nodes
    # are numbered with holes on some platforms): refused with the reason, or the node
    # named in tuning_numa_node is taken.
    topo = topology.load(topology_fixture("xeon-gold-5122-2s"))
    nic = topo.nics["ens1f0np0"]._replace(numa_node=3)
    topo = topo._replace(nics={nic.name: nic})
    message = refusal(topo, tuning_nic=nic.name)
    assert (
        "NIC ens1f0np0 reports node 3, which is not an online NUMA node of this host "
        "(nodes: [0, 1]); set tuning_numa_node to the node its PCIe slot hangs off"
    ) in message
    plan = make_plan(
        topo, profile.build({"tuning_nic": nic.name, "tuning_numa_node": 1}, host="h1"), host="h1"
    )
    assert plan.numa_node == 1
