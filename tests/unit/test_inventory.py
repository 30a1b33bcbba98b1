"""Hosts and variables from a real Ansible inventory, merged by ansible-core itself."""

from __future__ import annotations

from pathlib import Path

import pytest

from colotune import inventory
from colotune.errors import ColotuneError
from colotune.profile import ProfileError

REPO = Path(__file__).resolve().parents[2]


def write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


@pytest.fixture
def inv(tmp_path: Path) -> Path:
    return write(
        tmp_path / "inventory",
        {
            "hosts.yml": "all:\n  children:\n    ny4:\n      hosts:\n        a: {}\n        b: {}\n"
            "    lab:\n      hosts:\n        c: {ansible_port: 2222}\n",
            "group_vars/all.yml": "tuning_hugepages_1g: 1\ncolotune_venue: any\n",
            "group_vars/ny4.yml": "tuning_hugepages_1g: 4\ncolotune_venue: ny4\n"
            "tuning_nic: ens1\n",
            "group_vars/lab.yml": "tuning_nic: ens4\n",
            "host_vars/b.yml": "tuning_nic: ens2\ntuning_smt: idle_sibling\n"
            "trader_user: '{{ colotune_venue }}-trader'\n",
        },
    )


def test_merged_as_ansible_merges(inv: Path) -> None:
    hosts = {h.name: h for h in inventory.load_hosts(str(inv), "all")}
    assert hosts["a"].profile.tuning_nic == "ens1"
    assert hosts["a"].profile.tuning_hugepages_1g == 4  # group beats all
    assert hosts["b"].profile.tuning_nic == "ens2"  # host_vars beat group_vars
    assert hosts["b"].profile.tuning_smt == "idle_sibling"
    assert hosts["b"].profile.trader_user == "ny4-trader"  # Jinja rendered
    assert hosts["c"].profile.tuning_hugepages_1g == 1
    assert hosts["c"].vars["ansible_port"] == 2222


def test_limit_is_an_ansible_pattern(inv: Path) -> None:
    assert [h.name for h in inventory.load_hosts(str(inv), "ny4:!b")] == ["a"]
    assert [h.name for h in inventory.load_hosts(str(inv), "lab")] == ["c"]


def test_unknown_host(inv: Path) -> None:
    with pytest.raises(
        ColotuneError, match=r"no host in inventory .* matches 'zz9'.*hosts: a, b, c"
    ):
        inventory.load_hosts(str(inv), "zz9")


def test_missing_inventory(tmp_path: Path) -> None:
    with pytest.raises(ColotuneError, match="does not exist"):
        inventory.load_hosts(str(tmp_path / "nope"), None)


def test_every_invalid_host_is_reported(inv: Path) -> None:
    write(inv, {"host_vars/a.yml": "tuning_isolcpus: 2-5\n", "host_vars/c.yml": "tuning_smt: x\n"})
    with pytest.raises(ProfileError) as caught:
        inventory.load_hosts(str(inv), "all")
    text = str(caught.value)
    assert (
        "host a: tuning_isolcpus='2-5': unknown variable; did you mean tuning_isolated_cpus?"
        in text
    )
    assert "host c: tuning_smt='x'" in text


def test_the_shipped_inventory_is_valid() -> None:
    hosts = inventory.load_hosts(str(REPO / "inventory"), "ny4:ny5")
    assert {h.name for h in hosts} == {"ny4-trade01", "ny4-trade02", "ny5-trade01"}
