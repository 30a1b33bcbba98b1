"""Validators for roles/tuning: one test per control, expected values from the plan."""

from __future__ import annotations

from collections.abc import Callable

import pytest


@pytest.mark.control("TUN-001")
@pytest.mark.reboot(reason="kernel arguments take effect at boot")
def test_kernel_command_line_carries_each_plan_argument(verify: Callable[[], None]) -> None:
    """Kernel command line carries each plan argument exactly once."""
    verify()


@pytest.mark.control("TUN-002")
@pytest.mark.reboot(reason="isolcpus takes effect at boot")
def test_isolated_cpus_in_effect(verify: Callable[[], None]) -> None:
    """Isolated CPUs in effect (/sys/devices/system/cpu/isolated)."""
    verify()


@pytest.mark.control("TUN-003")
@pytest.mark.reboot(reason="nohz_full takes effect at boot")
def test_tickless_cpus_in_effect(verify: Callable[[], None]) -> None:
    """Tickless CPUs in effect (/sys/devices/system/cpu/nohz_full)."""
    verify()


@pytest.mark.control("TUN-004")
@pytest.mark.reboot(reason="rcu_nocbs takes effect at boot")
def test_rcu_callbacks_offloaded_from_isolated_cpus(verify: Callable[[], None]) -> None:
    """RCU callbacks offloaded from isolated CPUs."""
    verify()


@pytest.mark.control("TUN-005")
def test_kernel_log_shows_no_ignored_isolation_argument(verify: Callable[[], None]) -> None:
    """Kernel log shows no ignored isolation argument."""
    verify()


@pytest.mark.control("TUN-006")
@pytest.mark.reboot(reason="per-node 1 GiB pages are reserved at boot")
def test_1g_hugepages_per_node_as_planned(verify: Callable[[], None]) -> None:
    """1 GiB hugepages per NUMA node as planned."""
    verify()


@pytest.mark.control("TUN-007")
def test_cpu_governor_as_profiled(verify: Callable[[], None]) -> None:
    """CPU frequency governor as profiled on every CPU."""
    verify()


@pytest.mark.control("TUN-008")
def test_energy_performance_preference_is_performance(verify: Callable[[], None]) -> None:
    """Energy-performance preference is performance."""
    verify()


@pytest.mark.control("TUN-009")
def test_turbo_boost_as_profiled(verify: Callable[[], None]) -> None:
    """Turbo/boost as profiled."""
    verify()


@pytest.mark.control("TUN-027")
def test_cpu_frequency_floor_as_profiled(verify: Callable[[], None]) -> None:
    """CPU frequency floor (scaling_min_freq) as profiled."""
    verify()


@pytest.mark.control("TUN-010")
@pytest.mark.reboot(reason="C-state limits are kernel arguments")
def test_deep_c_states_held_off(verify: Callable[[], None]) -> None:
    """Deep C-states held off on isolated CPUs."""
    verify()


@pytest.mark.control("TUN-011")
def test_no_movable_irq_on_isolated_cpus(verify: Callable[[], None]) -> None:
    """No movable IRQ's effective affinity on an isolated CPU."""
    verify()


@pytest.mark.control("TUN-012")
def test_trading_nic_irqs_on_irq_cpus(verify: Callable[[], None]) -> None:
    """Trading NIC IRQs on the plan's IRQ CPUs."""
    verify()


@pytest.mark.control("TUN-013")
def test_default_irq_affinity_on_irq_cpus(verify: Callable[[], None]) -> None:
    """Default IRQ affinity on the plan's IRQ CPUs."""
    verify()


@pytest.mark.control("TUN-014")
def test_irqbalance_as_profiled(verify: Callable[[], None]) -> None:
    """irqbalance as profiled (stopped, or banned from isolated CPUs)."""
    verify()


@pytest.mark.control("TUN-015")
@pytest.mark.hardware(reason="interrupt coalescing needs a NIC driver that supports it")
def test_trading_nic_interrupt_coalescing_off(verify: Callable[[], None]) -> None:
    """Trading NIC interrupt coalescing off (rx-usecs 0, adaptive-rx and adaptive-tx off)."""
    verify()


@pytest.mark.control("TUN-016")
def test_automatic_numa_balancing_off(verify: Callable[[], None]) -> None:
    """Automatic NUMA balancing off (kernel.numa_balancing=0)."""
    verify()


@pytest.mark.control("TUN-017")
def test_transparent_hugepages_never(verify: Callable[[], None]) -> None:
    """Transparent hugepages never."""
    verify()


@pytest.mark.control("TUN-018")
def test_kernel_samepage_merging_off(verify: Callable[[], None]) -> None:
    """Kernel samepage merging off."""
    verify()


@pytest.mark.control("TUN-019")
def test_no_swap_in_use(verify: Callable[[], None]) -> None:
    """No swap in use (and vm.swappiness=0)."""
    verify()


@pytest.mark.control("TUN-020")
def test_lockup_watchdogs_off(verify: Callable[[], None]) -> None:
    """Lockup watchdogs off (NMI and soft lockup)."""
    verify()


@pytest.mark.control("TUN-021")
def test_timer_migration_off(verify: Callable[[], None]) -> None:
    """Timer migration off (kernel.timer_migration=0)."""
    verify()


@pytest.mark.control("TUN-022")
def test_vm_statistics_interval_relaxed(verify: Callable[[], None]) -> None:
    """VM statistics interval relaxed (vm.stat_interval >= 10)."""
    verify()


@pytest.mark.control("TUN-028")
def test_rt_throttling_off(verify: Callable[[], None]) -> None:
    """RT throttling off (kernel.sched_rt_runtime_us=-1)."""
    verify()


@pytest.mark.control("TUN-029")
def test_busy_poll_sysctls_as_the_profile_asks(verify: Callable[[], None]) -> None:
    """Busy-poll sysctls as the profile asks (net.core.busy_poll, busy_read)."""
    verify()


@pytest.mark.control("TUN-023")
def test_unbound_workqueues_on_housekeeping_cpus(verify: Callable[[], None]) -> None:
    """Unbound workqueues on housekeeping CPUs."""
    verify()


@pytest.mark.control("TUN-024")
def test_no_unexpected_task_on_isolated_cpus(verify: Callable[[], None]) -> None:
    """No unexpected task allowed on an isolated CPU."""
    verify()


@pytest.mark.control("TUN-025")
@pytest.mark.slow(reason="counts interrupts over --irq-window seconds")
def test_interrupt_rate_on_isolated_cpus(verify: Callable[[], None]) -> None:
    """Interrupt rate on isolated CPUs over the measured window."""
    verify()


@pytest.mark.control("TUN-026")
def test_collector_ran_on_housekeeping_cpus(verify: Callable[[], None]) -> None:
    """The audit itself ran on housekeeping CPUs only."""
    verify()
