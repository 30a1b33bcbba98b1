"""The installed ptp4l accepts every configuration roles/ptp renders.

ptp4l parses its configuration before it opens the interface; a config naming an
interface that does not exist gets past parsing and stops at the interface, so
nothing is started. An unknown option would stop it at parsing instead.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from ptp_templates import VETH, render

pytestmark = pytest.mark.integration


def _installed_version() -> str:
    done = subprocess.run(["ptp4l", "-v"], capture_output=True, text=True, timeout=5, check=False)
    return (done.stdout or done.stderr).strip()


@pytest.mark.skipif(shutil.which("ptp4l") is None, reason="needs ptp4l (apt-get install linuxptp)")
@pytest.mark.parametrize(
    ("ptp_role", "ptp_timestamping"),
    [("client", "hardware"), ("grandmaster", "hardware"), ("client", "software")],
)
def test_ptp4l_parses_the_rendered_config(
    tmp_path: Path, ptp_role: str, ptp_timestamping: str
) -> None:
    extra = {"ethtool_t": VETH} if ptp_timestamping == "software" else {}
    text = render(
        "ptp4l.conf",
        ptp_role=ptp_role,
        ptp_timestamping=ptp_timestamping,
        ptp4l_version=_installed_version(),
        __ptp_interface="colotune-none0",
        **extra,
    )
    config = tmp_path / "ptp4l.conf"
    config.write_text(text.replace("/run/ptp4l", str(tmp_path / "ptp4l")))
    done = subprocess.run(
        ["ptp4l", "-f", str(config), "-m", "-q"],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode != 0  # the interface does not exist: it must stop there
    assert "failed to parse configuration file" not in output, output
    assert "unknown option" not in output.lower(), output
    assert "colotune-none0" in output or "No such device" in output, output
