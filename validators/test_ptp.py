"""Validators for roles/ptp: one test per control, expected values from the plan."""

from __future__ import annotations

from collections.abc import Callable

import pytest


@pytest.mark.control("PTP-001")
def test_ptp4l_running(verify: Callable[[], None]) -> None:
    """ptp4l running."""
    verify()


@pytest.mark.control("PTP-002")
@pytest.mark.hardware(reason="phc2sys needs a NIC with a PTP hardware clock")
def test_phc2sys_running(verify: Callable[[], None]) -> None:
    """phc2sys running."""
    verify()


@pytest.mark.control("PTP-003")
def test_ptp_port_state_slave_never_faulty(verify: Callable[[], None]) -> None:
    """PTP port state SLAVE (MASTER on a grandmaster), never FAULTY."""
    verify()


@pytest.mark.control("PTP-004")
def test_grandmaster_present(verify: Callable[[], None]) -> None:
    """Grandmaster present."""
    verify()


@pytest.mark.control("PTP-005")
@pytest.mark.slow(reason="judges offsets over --ptp-window seconds")
def test_offset_from_master_within_window(verify: Callable[[], None]) -> None:
    """Offset from master within ptp_max_offset_ns (P99 and max over the window)."""
    verify()


@pytest.mark.control("PTP-006")
@pytest.mark.hardware(reason="phc2sys offsets need a NIC with a PTP hardware clock")
def test_phc2sys_offset_within_window(verify: Callable[[], None]) -> None:
    """phc2sys offset within ptp_max_offset_ns."""
    verify()


@pytest.mark.control("PTP-007")
def test_no_competing_time_daemon(verify: Callable[[], None]) -> None:
    """No competing time daemon."""
    verify()
