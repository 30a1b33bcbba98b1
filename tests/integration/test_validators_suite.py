"""The validators suite's own rules, run on this machine through testinfra's local backend:
control IDs enforced, environment markers need reasons, waivers turn failures into xfails."""

from __future__ import annotations

import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from colotune import checks
from colotune.host import topology

pytestmark = pytest.mark.integration  # runs the suite in a real pytest process

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


@pytest.fixture
def suite(tmp_path: Path) -> Path:
    """A copy of validators/ to add tests to, and a profile for this machine."""
    folder = tmp_path / "validators"
    shutil.copytree(REPO / "validators", folder)
    nic = sorted(topology.read(topology.SysfsTree("/")).nics)[0]
    (tmp_path / "profile.yml").write_text(yaml.safe_dump({"tuning_nic": nic, "ptp_enabled": False}))
    return folder


def case_name(control_id: str) -> str:
    """The JUnit testcase name of a control's validator on the local host."""
    control = checks.get(control_id)
    return f"test_control[local-{control.id} {control.title}]"


def run(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            str(BIN / "pytest"),
            str(folder),
            "--hosts=local://",
            "-q",
            f"--profile={folder.parent / 'profile.yml'}",
            *args,
        ],
        capture_output=True,
        text=True,
        cwd=folder.parent,
        timeout=300,
        check=False,
    )


def test_a_test_without_a_control_id_is_refused(suite: Path) -> None:
    (suite / "test_extra.py").write_text("def test_something(host):\n    assert host\n")
    done = run(suite)
    assert done.returncode == 4, done.stdout + done.stderr
    assert 'test_extra.py::test_something[local]: needs exactly one @pytest.mark.control("ID")' in (
        done.stderr
    )


def test_unknown_id_and_marker_without_reason_are_refused(suite: Path) -> None:
    (suite / "test_extra.py").write_text(
        "import pytest\n\n"
        '@pytest.mark.control("TUN-999")\n'
        "def test_unknown(verify):\n    verify()\n\n"
        '@pytest.mark.control("TUN-017")\n@pytest.mark.slow\n'
        "def test_no_reason(verify):\n    verify()\n"
    )
    done = run(suite)
    assert done.returncode == 4
    assert "unknown control 'TUN-999'" in done.stderr
    assert "@pytest.mark.slow needs reason=..." in done.stderr


def test_suite_on_this_machine_with_waiver_and_skips(suite: Path, tmp_path: Path) -> None:
    waivers = tmp_path / "waivers.yml"
    waivers.write_text(
        yaml.safe_dump(
            {
                "waivers": [
                    {
                        "control": "TUN-017",
                        "expires": "2099-12-31",
                        "justification": "THP stays as the base image sets it here",
                    }
                ]
            }
        )
    )
    junit = tmp_path / "v.xml"
    done = run(
        suite, f"--waivers={waivers}", "--skip-marker=reboot,slow", f"--junitxml={junit}", "-rxs"
    )
    cases = {c.get("name"): c for c in ET.parse(junit).getroot().iter("testcase")}
    assert len(cases) == len(checks.all_controls())  # one test per control, none left out
    reboot = cases[case_name("TUN-002")].find("skipped")
    assert reboot is not None and "reboot: isolcpus takes effect at boot" in reboot.get("message")
    thp = cases[case_name("TUN-017")]
    if Path("/sys/kernel/mm/transparent_hugepage/enabled").read_text().find("[never]") < 0:
        skipped = thp.find("skipped")
        assert skipped is not None and skipped.get("type") == "pytest.xfail"
        assert "waived until 2099-12-31" in skipped.get("message")
    properties = {p.get("name"): p.get("value") for p in thp.iter("property")}
    assert properties["control"] == "TUN-017"
    assert done.returncode in (0, 1), done.stdout[-2000:]
