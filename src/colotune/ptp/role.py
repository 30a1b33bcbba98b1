"""What roles/ptp writes, decided once here (the role reaches it through its filter plugin).

From what the host reports (`ethtool -T`, `ethtool -i`, `ptp4l -v`) and the
host's PTP inputs: whether PTP may run at all, the ptp4l settings that depend
on the driver and on the linuxptp version, and which clock each daemon owns.
"""

from __future__ import annotations

import re
import shlex
from typing import Any

from colotune.host import collector, parsers
from colotune.ptp import pmc, timestamping


def linuxptp_major(version_text: str) -> int:
    """The major version of `ptp4l -v` output ("3.1.1", "4.2"); 3 when it cannot tell."""
    match = re.match(r"\s*(\d+)\.", version_text or "")
    return int(match.group(1)) if match else 3


def phc2sys_args(
    *, interface: str, role: str, domain: int, logging_level: int, summary_interval: int
) -> list[str]:
    """phc2sys's arguments: PHC -> CLOCK_REALTIME on a client, the reverse on a grandmaster.

    -w waits for ptp4l (and takes the UTC offset from it), -z and -n talk to this
    interface's ptp4l instance. summary_interval > 0 prints rms/max every
    2^interval updates (phc2sys updates once a second).
    """
    source, sink = (interface, "CLOCK_REALTIME")
    if role == "grandmaster":
        source, sink = sink, source
    args = ["-s", source, "-c", sink, "-w", "-z", pmc.uds_address(interface)]
    args += ["-n", str(domain), "-l", str(logging_level)]
    if summary_interval > 0:
        args += ["-u", str(2**summary_interval)]
    return args


def settings(
    *,
    interface: str,
    ethtool_t: str,
    ethtool_i: str,
    ptp4l_version: str,
    timestamping_mode: str,
    role: str,
    domain: int = 0,
    tx_timestamp_timeout_ms: int | None = None,
    logging_level: int = 6,
    summary_interval: int = 0,
) -> dict[str, Any]:
    """Everything the role's templates and tasks need for one interface.

    "refusal" is a message when PTP must not be set up as asked (hardware
    timestamping requested on a NIC without it), else None.
    """
    ts = timestamping.parse(ethtool_t)
    driver = parsers.parse_ethtool_driver(ethtool_i).get("driver") or None
    major = linuxptp_major(ptp4l_version)
    hardware = timestamping_mode == "hardware"
    phc2sys = (
        phc2sys_args(
            interface=interface,
            role=role,
            domain=domain,
            logging_level=logging_level,
            summary_interval=summary_interval,
        )
        if hardware
        else None
    )
    if hardware:
        owners = {"PHC": "ptp4l" if role == "client" else "phc2sys"}
        owners["CLOCK_REALTIME"] = "phc2sys" if role == "client" else "none (the source)"
    else:
        owners = {"CLOCK_REALTIME": "ptp4l" if role == "client" else "none (the source)"}
    return {
        "interface": interface,
        "competing_units": list(collector.TIME_UNITS),  # masked here, judged by PTP-007
        "driver": driver,
        "refusal": timestamping.refusal(ts, interface=interface, mode=timestamping_mode),
        "timestamping": ts.to_dict(),
        "phc_device": ts.phc_device,
        "tx_timestamp_timeout_ms": timestamping.tx_timestamp_timeout_ms(
            driver, tx_timestamp_timeout_ms
        ),
        "linuxptp_major": major,
        "client_only_key": "clientOnly" if major >= 4 else "slaveOnly",
        "server_only_key": "serverOnly" if major >= 4 else "masterOnly",
        "uds_address": pmc.uds_address(interface),
        "uds_ro_address": f"{pmc.UDS_DIR}/ptp4lro-{interface}" if major >= 4 else None,
        "phc2sys": phc2sys is not None,
        "phc2sys_opts": shlex.join(phc2sys) if phc2sys else "",
        "clock_owners": owners,
    }
