"""The pmc query colotune sends to ptp4l, and one sample from its answer.

pmc's text is split into responses by `colotune.host.parsers.parse_pmc` (the one
pmc parser); this module turns one answer into a flat sample: the values the
window statistics and the controls judge.
"""

from __future__ import annotations

import re
from typing import Any

from colotune.host import parsers

# What every sample asks: offset and path delay, port state, and whether (and
# when) Sync messages from a grandmaster still arrive.
QUERY = ("GET CURRENT_DATA_SET", "GET PORT_DATA_SET", "GET TIME_STATUS_NP")

# ptp4l's management socket for an interface: one ptp4l instance per interface,
# each with its own socket (matches the collector's /run/ptp4l* glob).
UDS_DIR = "/run"

# Port states in which a port is locked to, or synchronising with, a master.
CLIENT_STATES = frozenset({"SLAVE", "UNCALIBRATED"})
# Port states of a grandmaster's port (GRAND_MASTER: linuxptp 4.x reporting).
MASTER_STATES = frozenset({"MASTER", "GRAND_MASTER"})

_INT = re.compile(r"^[-+]?\d+$")


def uds_address(interface: str) -> str:
    """The UDS socket of the ptp4l instance on `interface` (the role writes it as uds_address)."""
    return f"{UDS_DIR}/ptp4l-{interface}"


def argv(uds: str, *, domain: int = 0) -> list[str]:
    """The pmc command line for one sample through ptp4l's UDS socket."""
    return ["pmc", "-u", "-b", "0", "-d", str(domain), "-s", uds, *QUERY]


def _int(value: str | None) -> int | None:
    return int(value) if value is not None and _INT.match(value) else None


def sample(text: str, t: float) -> dict[str, Any]:
    """One pmc answer as a flat sample taken at time `t` (seconds, any epoch).

    Keys: t, answered, and when pmc reported them: offset_ns, path_delay_ns,
    steps_removed, port_state, gm_present, gm_identity, master_offset_ns (the
    keys of `parsers.pmc_values`), plus ingress_time_ns (receive time of the last
    Sync, 0 when none), clock_identity, log_sync_interval and
    announce_receipt_timeout. A pmc that reached no ptp4l answers nothing:
    {"t": t, "answered": False}.
    """
    responses = parsers.parse_pmc(text)
    result: dict[str, Any] = {"t": t, "answered": bool(responses)}
    result.update(parsers.pmc_values(responses))
    for response in responses:
        fields = response["fields"]
        if response["tlv"] == "TIME_STATUS_NP":
            result["ingress_time_ns"] = _int(fields.get("ingress_time"))
            result["clock_identity"] = str(response["port"]).rsplit("-", 1)[0]
        elif response["tlv"] == "PORT_DATA_SET":
            result["log_sync_interval"] = _int(fields.get("logSyncInterval"))
            result["announce_receipt_timeout"] = _int(fields.get("announceReceiptTimeout"))
    return result


def split_stream(text: str, marker: str = "@@ ") -> list[tuple[float, str]]:
    """Samples from one stream of pmc answers, each headed by a line "@@ <seconds>".

    The remote probe runs pmc in a shell loop and prints such a line before each
    answer, so a whole window comes back in one SSH round trip.
    """
    chunks: list[tuple[float, str]] = []
    current: list[str] | None = None
    t = 0.0
    for line in text.splitlines():
        if line.startswith(marker):
            if current is not None:
                chunks.append((t, "\n".join(current)))
            try:
                t = float(line[len(marker) :].strip())
            except ValueError:
                current = None
                continue
            current = []
        elif current is not None:
            current.append(line)
    if current is not None:
        chunks.append((t, "\n".join(current)))
    return chunks
