"""Kernel cpulist and mask parsing: what the kernel prints and what people write."""

from __future__ import annotations

from pathlib import Path

import pytest

from colotune.host import cpulist

FACTS = Path(__file__).resolve().parents[1] / "fixtures" / "facts"


@pytest.mark.parametrize(
    ("text", "cpus"),
    [
        ("", set()),
        ("0", {0}),
        ("0-3", {0, 1, 2, 3}),
        ("0-1,8,10-11\n", {0, 1, 8, 10, 11}),
        ("1,3,5,7", {1, 3, 5, 7}),
        (" 2 , 4-5 ", {2, 4, 5}),
    ],
)
def test_parse(text: str, cpus: set[int]) -> None:
    assert cpulist.parse(text) == cpus


@pytest.mark.parametrize(
    ("text", "says"),
    [("2-", "'2-' is neither"), ("a,b", "'a' is neither"), ("5-3", "write 3-5"), ("1,,2", "''")],
)
def test_parse_rejects_with_the_bad_part(text: str, says: str) -> None:
    with pytest.raises(cpulist.CpuListError, match=says):
        cpulist.parse(text)


def test_render_collapses_ranges_and_sorts() -> None:
    assert cpulist.render({11, 0, 1, 2, 8, 10}) == "0-2,8,10-11"
    assert cpulist.render([]) == ""
    assert cpulist.render({3, 5, 7}) == "3,5,7"


def test_render_parse_round_trip() -> None:
    for cpus in ({0}, {0, 2, 4, 6}, set(range(64)) - {5, 33}, {1, 100}):
        assert cpulist.parse(cpulist.render(cpus)) == cpus


def test_masks_as_the_kernel_prints_them() -> None:
    # recorded on this machine: /proc/irq/default_smp_affinity (tests/fixtures/facts/README.md)
    recorded = (FACTS / "this-machine" / "default_smp_affinity.txt").read_text()
    assert cpulist.parse_mask(recorded) == {0, 1}
    assert cpulist.parse_mask("00000000,00000101") == {0, 8}
    assert cpulist.parse_mask("00000003") == {0, 1}
    assert cpulist.parse_mask("1,00000000") == {32}
    assert cpulist.render_mask({0, 1}) == "3"
    assert cpulist.render_mask({32, 0}) == "1,00000001"
    with pytest.raises(cpulist.CpuListError, match="hex CPU mask"):
        cpulist.parse_mask("xyz")
