"""The profile model: defaults, typos, cross-field rules, market hours."""

from __future__ import annotations

from typing import Any

import pytest

from colotune import profile
from colotune.profile import ProfileError


def build(**variables: Any) -> profile.HostProfile:
    return profile.build({"tuning_nic": "eth1", **variables}, host="ny4-t1")


def test_smallest_profile_is_one_variable() -> None:
    prof = profile.build({"tuning_nic": "eth1"})
    assert prof.tuning_smt == "isolate_both"
    assert prof.tuning_hugepages_1g == 0
    assert prof.trader_threads == ["t2t-hot"]
    assert profile.build({"tuning_numa_node": 1}).tuning_nic is None


def test_other_variables_are_not_the_profiles_business() -> None:
    prof = profile.build({"tuning_nic": "eth1", "ansible_host": "x", "my_own_var": 3})
    assert prof.tuning_nic == "eth1"


def test_cpulists_are_normalised() -> None:
    assert build(tuning_isolated_cpus="5,3,4").tuning_isolated_cpus == "3-5"


@pytest.mark.parametrize(
    ("variables", "says"),
    [
        (
            {"tuning_isolcpus": "2-5"},
            "tuning_isolcpus='2-5': unknown variable; did you mean " "tuning_isolated_cpus?",
        ),
        ({"tuning_isolated_cpus": "2-"}, "tuning_isolated_cpus='2-': '2-' is not a cpulist"),
        ({"tuning_isolated_cpus": "a,b"}, "'a' is neither a CPU number nor a range"),
        ({"tuning_isolated_cpus": "5-3"}, "range '5-3' runs backwards"),
        (
            {"tuning_isolated_cpus": "2-5", "tuning_housekeeping_cpus": "0-2"},
            "overlap on 2; a CPU is either isolated or housekeeping",
        ),
        ({"tuning_irq_cpus": "3", "tuning_isolated_cpus": "2-5"}, "includes isolated CPUs 3"),
        (
            {"tuning_smt": "off"},
            "tuning_smt='off': Input should be 'isolate_both' or 'idle_sibling'",
        ),
        ({"tuning_hugepages_1g": -1}, "hugepage counts must be 0 or more"),
        ({"colotune_timezone": "Mars/Base"}, "not an IANA time zone"),
        ({"colotune_trading_hours": {"start": "16:00", "end": "16:00"}}, "both 16:00"),
        ({"colotune_calendar": "NYSEX"}, "not an exchange_calendars venue code"),
        ({"colotune_guard_lead_minutes": -5}, "greater than or equal to 0"),
        ({"colotune_environment": "prod"}, "'production', 'lab' or 'test'"),
        ({"colotune_now": "2026-11-23T10:00:00-05:00"}, "refused where colotune_environment"),
        ({"trader_threads": ["a-very-long-thread-name"]}, "1-15 characters"),
        ({"trader_thread_cpus": {"nope": 3}}, "trader_thread_cpus names nope"),
        ({"onload_enabled": True}, "onload_version and onload_source"),
    ],
)
def test_bad_input_names_host_variable_value_and_what_is_valid(
    variables: dict[str, Any], says: str
) -> None:
    with pytest.raises(ProfileError) as caught:
        build(**variables)
    assert says in str(caught.value)
    assert "ny4-t1" in str(caught.value)


def test_no_nic_and_no_node() -> None:
    with pytest.raises(ProfileError, match="name the trading NIC"):
        profile.build({})


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(ProfileError) as caught:
        build(tuning_isolated_cpus="x", tuning_governor=3, colotune_timezone="Nowhere")
    assert len(caught.value.errors) == 3


def test_facts_the_roles_export_are_not_inputs() -> None:
    prof = profile.build(
        {"tuning_nic": "eth1", "colotune_plan": {}, "tuning_reboot_required": True, "ptp_setup": {}}
    )
    assert prof.tuning_nic == "eth1"
