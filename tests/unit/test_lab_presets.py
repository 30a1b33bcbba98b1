"""Lab topology presets: the named shapes and the `<S>s<C>c[<T>t]` form."""

from __future__ import annotations

import pytest

from colotune.errors import InputError
from colotune.lab import presets


def test_2s4c2t_is_two_nodes_of_eight_cpus_with_nic_on_node_1() -> None:
    p = presets.get("2s4c2t")
    assert (p.sockets, p.cores, p.threads, p.vcpus, p.nodes) == (2, 4, 2, 16, 2)
    assert list(p.node_cpus(0)) == list(range(8))
    assert list(p.node_cpus(1)) == list(range(8, 16))
    assert p.nic_node == 1
    # Room for 1 GiB pages on each node.
    assert p.mem_per_node_mib >= 2560


def test_1s4c_is_one_node_of_four_cpus() -> None:
    p = presets.get("1s4c")
    assert (p.vcpus, p.nodes, p.nic_node, p.threads) == (4, 1, 0, 1)


def test_shape_form_builds_a_preset_with_the_nic_on_the_last_node() -> None:
    p = presets.get("2s2c2t")
    assert (p.sockets, p.cores, p.threads, p.nic_node) == (2, 2, 2, 1)


@pytest.mark.parametrize("name", ["", "2s", "big", "2s4c3t", "0s4c", "9s4c"])
def test_unknown_preset_names_what_is_valid(name: str) -> None:
    with pytest.raises(InputError) as err:
        presets.get(name)
    message = str(err.value)
    assert "--topology" in message
    assert "2s4c2t" in message
    assert "1s4c" in message


def test_nic_node_must_exist() -> None:
    with pytest.raises(ValueError, match="nic_node=1"):
        presets.Preset(name="x", sockets=1, cores=2, threads=1, mem_per_node_mib=1024, nic_node=1)
