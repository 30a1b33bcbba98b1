"""Properties that hold for any input: cpulists, the profile and the host parsers.

hypothesis generates the inputs; a crash it finds becomes a fixed bug and a row
of tests/unit/test_bad_input.py.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from colotune import profile
from colotune.host import cpulist, parsers

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

CPUS = st.integers(min_value=0, max_value=cpulist.MAX_CPUS - 1)
# Text that looks like a cpulist part of the time: digits (ASCII and others), ranges, commas.
CPULIST_TEXT = st.one_of(
    st.text(),
    st.text(alphabet="0123456789-, \n\uff11٢²", max_size=40),
    st.lists(st.integers(min_value=0, max_value=10**12), max_size=4).map(
        lambda ns: "-".join(map(str, ns))
    ),
)


@FAST
@given(st.frozensets(CPUS, max_size=300))
def test_cpulist_round_trip(cpus: frozenset[int]) -> None:
    assert cpulist.parse(cpulist.render(cpus)) == cpus
    assert cpulist.parse_mask(cpulist.render_mask(cpus) if cpus else "0") == cpus


@pytest.mark.parametrize("parse", [cpulist.parse, cpulist.parse_mask], ids=lambda f: f.__name__)
def test_cpu_sets_parse_only_refuses_and_stays_bounded(
    parse: Callable[[str], frozenset[int]],
) -> None:
    @FAST
    @given(st.one_of(CPULIST_TEXT, st.text(alphabet="0123456789abcdef,", max_size=3000)))
    @example("1-4000000000")
    @example("0-" + "9" * 5000)
    @example("\uff11")
    def check(text: str) -> None:
        try:
            cpus = parse(text)
        except cpulist.CpuListError:
            return
        assert all(0 <= cpu < cpulist.MAX_CPUS for cpu in cpus)

    check()


JSONISH = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=20)
    | st.sampled_from(["eth0", "0-3", "\uff11", "", "root", "sshd.service", "$(id)", "true"]),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
VARIABLES = st.dictionaries(st.sampled_from(sorted(profile.KNOWN_VARIABLES)), JSONISH, max_size=6)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(VARIABLES, st.dictionaries(st.text(max_size=12), JSONISH, max_size=2))
def test_profile_build_only_raises_profile_errors(
    variables: dict[str, Any], unknown: dict[str, Any]
) -> None:
    """Whatever the values, build() gives a profile or a ProfileError (exit 2), nothing else."""
    given_vars = {"tuning_nic": "eth0", **variables, **unknown}
    message = ""
    try:
        profile.build(given_vars, host="h1", strict_names=set(unknown))
    except profile.ProfileError as exc:
        message = str(exc)
    assert not message or message.startswith("invalid profile:")
    assert len(message) < 20_000


TEXT_PARSERS: list[Callable[[str], Any]] = [
    parsers.parse_cmdline,
    parsers.parse_ethtool_coalesce,
    parsers.parse_ethtool_rings,
    parsers.parse_ethtool_features,
    parsers.parse_ethtool_timestamping,
    parsers.parse_ethtool_driver,
    parsers.parse_interrupts,
    parsers.parse_pmc,
    parsers.parse_systemctl_show,
    parsers.parse_status,
    parsers.parse_swaps,
    parsers.parse_kmsg,
    parsers.parse_dmesg_line,
]
# Text shaped like what the host prints: header words, colons, tabs, digits of any script.
HOST_TEXT = st.one_of(
    st.text(),
    st.lists(
        st.sampled_from(
            [
                "CPU0",
                "CPU²",
                "CPU\uff11",
                " 24:",
                "LOC:",
                "²",
                "١٢",
                "12",
                "\t\t",
                "        ",
                "portState",
                "offsetFromMaster",
                "seq",
                "1",
                "RESPONSE",
                "MANAGEMENT",
                "CURRENT_DATA_SET",
                "TIME_STATUS_NP",
                "stepsRemoved",
                "²",
                ",",
                ";",
                ":",
                "\n",
                " ",
                "on",
                "off",
                "n/a",
                "Coalesce parameters",
                "Ring parameters",
                "Pre-set maximums:",
                "Current hardware settings:",
                "RX:",
                "[fixed]",
                "=",
                "Hardware Transmit Timestamp Modes:",
                "PTP Hardware Clock:",
                "\\040",
            ]
        ),  # fmt: skip
        max_size=40,
    ).map("".join),
)


@pytest.mark.parametrize("parse", TEXT_PARSERS, ids=lambda f: f.__name__)
def test_host_parsers_never_raise(parse: Callable[[str], Any]) -> None:
    @settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(HOST_TEXT)
    @example("CPU²  CPU\uff11\n 24: ² ١٢ x\n")  # digits Python's isdigit() takes, int() may not
    @example("²,1,1;msg")
    def check(text: str) -> None:
        parse(text)

    check()


@FAST
@given(HOST_TEXT)
def test_pmc_values_never_raise(text: str) -> None:
    parsers.pmc_values(parsers.parse_pmc(text))


@FAST
@given(CPULIST_TEXT)
def test_sysfs_cpulist_only_refuses(text: str) -> None:
    with contextlib.suppress(cpulist.CpuListError):
        parsers.parse_sysfs_cpulist(text)
