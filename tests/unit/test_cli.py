"""The `colotune` command: every bad input ends in one clear message, exit 2, nothing written."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from colotune.cli import main

Fixture = Callable[[str], Path]
REPO = Path(__file__).resolve().parents[2]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_plan_json_contract(capsys: pytest.CaptureFixture[str], topology_fixture: Fixture) -> None:
    code, out, _ = run(
        capsys,
        "plan",
        "--json",
        "-e",
        "tuning_nic=ens1f0np0",
        "--sysfs-root",
        str(topology_fixture("xeon-gold-5122-2s")),
    )
    assert code == 0
    plan = json.loads(out)
    for key in (
        "housekeeping_cpus",
        "isolated_cpus",
        "irq_cpus",
        "nic",
        "hugepages",
        "kernel_args",
        "threads",
    ):
        assert key in plan
    assert plan["nic"] == {
        "name": "ens1f0np0",
        "numa_node": 1,
        "pci_address": "0000:d8:00.0",
        "driver": "sfc",
    }


def test_plan_table_explains(capsys: pytest.CaptureFixture[str], topology_fixture: Fixture) -> None:
    code, out, _ = run(
        capsys,
        "plan",
        "-i",
        str(REPO / "inventory"),
        "-l",
        "ny4-trade02",
        "-e",
        "tuning_nic=ens1f0np0",
        "--sysfs-root",
        str(topology_fixture("xeon-gold-5122-2s")),
    )
    assert code == 0
    assert "Plan for ny4-trade02" in out
    assert "threads            t2t-hot -> CPU 3, t2t-feed-b -> CPU 5" in out
    assert "  - trading node 1: the node of NIC ens1f0np0" in out


def test_plan_from_a_profile_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, topology_fixture: Fixture
) -> None:
    prof = tmp_path / "p.yml"
    prof.write_text("tuning_nic: enp5s0\ntuning_isolated_cores: 3\n")
    code, out, _ = run(
        capsys,
        "plan",
        "--json",
        "--profile",
        str(prof),
        "--sysfs-root",
        str(topology_fixture("alderlake-i9-12900k")),
    )
    assert code == 0
    assert json.loads(out)["isolated_cpus"] == "2-7"


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["-e", "tuning_isolated_cpus=2-"], "'2-' is not a cpulist"),
        (["-e", "tuning_isolated_cpus=a,b"], "'a' is neither a CPU number"),
        (["-e", "tuning_isolated_cpus=5-3"], "runs backwards"),
        (["-e", "tuning_isolated_cpus=3,11,99"], "CPU 99 does not exist on this host"),
        (["-e", "tuning_isolated_cpus=3,11", "-e", "tuning_housekeeping_cpus=0-3"], "overlap on 3"),
        (["-e", "tuning_isolated_cpus=3"], "splits the core of CPUs 3,11"),
        (["-e", "tuning_nic=eth7"], "tuning_nic='eth7': no such NIC"),
        (["-e", "tuning_hugepages_1g=500"], "does not fit"),
        (["-e", "tuning_isolcpus=3"], "did you mean tuning_isolated_cpus?"),
        (["-e", "nonsense"], "expected KEY=VALUE"),
    ],
)
def test_plan_bad_input(
    capsys: pytest.CaptureFixture[str], topology_fixture: Fixture, args: list[str], says: str
) -> None:
    code, out, err = run(
        capsys,
        "plan",
        "-e",
        "tuning_nic=ens1f0np0",
        *args,
        "--sysfs-root",
        str(topology_fixture("xeon-gold-5122-2s")),
    )
    assert code == 2
    assert out == ""
    assert says in err
    assert "Traceback" not in err


def test_unknown_inventory_host(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "plan", "-i", str(REPO / "inventory"), "-l", "ny9-nothere")
    assert code == 2
    assert "no host in inventory" in err and "ny4-trade01" in err


@pytest.mark.parametrize("content", [b"", b"\x1f\x8b\x08\x00garbage", b"not a tarball"])
def test_unreadable_topology_tarball(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, content: bytes
) -> None:
    bad = tmp_path / "t.tar.gz"
    bad.write_bytes(content)
    code, _, err = run(capsys, "plan", "-e", "tuning_nic=x", "--sysfs-root", str(bad))
    assert code == 2
    assert "unreadable or truncated topology tarball" in err


def test_inventory_check(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = run(capsys, "inventory", "check", "-i", str(REPO / "inventory"), "-l", "ny4")
    assert code == 0 and "2 host(s) valid" in out
    bad = tmp_path / "inv"
    (bad / "host_vars").mkdir(parents=True)
    (bad / "hosts.yml").write_text("all:\n  hosts:\n    h1: {}\n")
    (bad / "host_vars" / "h1.yml").write_text("tuning_nic: e1\ntuning_isolcpus: 1-3\n")
    code, out, err = run(capsys, "inventory", "check", "-i", str(bad))
    assert code == 2
    assert (
        "host h1: tuning_isolcpus='1-3': unknown variable; did you mean tuning_isolated_cpus?"
        in err
    )


def test_topology_record_writes_nothing_on_failure(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "out.tar.gz").mkdir()  # a directory where the file should go
    code, _, err = run(capsys, "topology", "record", str(tmp_path / "out.tar.gz"))
    assert code == 2
    assert "cannot write" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.tar.gz"]


def test_topology_record_then_plan(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out = tmp_path / "me.tar.gz"
    code, text, _ = run(capsys, "topology", "record", str(out))
    assert code == 0 and out.exists()
    code, text, _ = run(capsys, "topology", "show", "--sysfs-root", str(out))
    assert code == 0 and "CPUs online" in text


def test_console_script_exit_code() -> None:
    done = subprocess.run(
        [str(Path(sys.executable).with_name("colotune")), "plan", "-e", "tuning_isolated_cpus=2-"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.startswith("colotune: error:")
