"""What a NIC can timestamp (`ethtool -T`), and the ptp4l settings that depend on its driver.

`ethtool -T` text is parsed by `colotune.host.parsers.parse_ethtool_timestamping`
(the one parser); this module judges it for PTP and picks per-driver defaults.
The role reaches these functions through its filter plugin, the controls directly.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from colotune.host import parsers

# ptp4l waits this long (ms) for a TX timestamp before it declares the port FAULTY.
# linuxptp's own default of 1 ms is too short on loaded hosts: igb delivers TX
# timestamps from a kworker that may wait a tick (SEAPATH uses 10 ms), and Intel
# E810 (ice) needs more (Intel recommends 50 ms).
TX_TIMESTAMP_TIMEOUT_MS = {"igb": 10, "ice": 50}
DEFAULT_TX_TIMESTAMP_TIMEOUT_MS = 10

HARDWARE_NEEDS = ("hardware-transmit", "hardware-receive", "hardware-raw-clock")


@dataclass(frozen=True)
class Timestamping:
    """A NIC's timestamping support as PTP needs it."""

    interface: str | None
    capabilities: tuple[str, ...]
    phc_index: int | None  # /dev/ptpN of the NIC's PTP hardware clock
    tx_modes: tuple[str, ...]
    rx_filters: tuple[str, ...]

    @property
    def missing_for_hardware(self) -> tuple[str, ...]:
        """What hardware timestamping lacks here (empty: ptp4l can run with -H)."""
        missing = [c for c in HARDWARE_NEEDS if c not in self.capabilities]
        if self.phc_index is None:
            missing.append("a PTP Hardware Clock")
        # Emulated e1000e/igb list the capabilities and a PHC but no receive filter:
        # ptp4l -H then never gets an RX timestamp ("received SYNC without timestamp").
        if not [f for f in self.rx_filters if f != "none"]:
            missing.append("a hardware receive filter (Hardware Receive Filter Modes: none)")
        if "on" not in self.tx_modes and not [m for m in self.tx_modes if m.startswith("onestep")]:
            missing.append("a hardware transmit mode")
        return tuple(missing)

    @property
    def hardware(self) -> bool:
        return not self.missing_for_hardware

    @property
    def software(self) -> bool:
        return {"software-transmit", "software-receive"} <= set(self.capabilities)

    @property
    def phc_device(self) -> str | None:
        return None if self.phc_index is None else f"/dev/ptp{self.phc_index}"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(
            hardware=self.hardware,
            software=self.software,
            missing_for_hardware=list(self.missing_for_hardware),
            phc_device=self.phc_device,
        )
        return data


def parse(text: str) -> Timestamping:
    """`ethtool -T IFACE` output as a Timestamping."""
    raw = parsers.parse_ethtool_timestamping(text)
    interface = None
    for line in text.splitlines():
        if line.startswith("Time stamping parameters for "):
            interface = line.removeprefix("Time stamping parameters for ").rstrip(":").strip()
            break
    return Timestamping(
        interface=interface,
        capabilities=tuple(raw["capabilities"]),
        phc_index=raw["phc_index"],
        tx_modes=tuple(raw["tx_modes"]),
        rx_filters=tuple(raw["rx_filters"]),
    )


def refusal(ts: Timestamping, *, interface: str, mode: str) -> str | None:
    """Why PTP cannot run on this NIC in `mode` (hardware/software), or None if it can."""
    if mode == "hardware" and not ts.hardware:
        return (
            f"{interface} cannot do hardware timestamping (ethtool -T {interface} lacks: "
            f"{', '.join(ts.missing_for_hardware)}). Use a NIC with a PTP hardware clock, or "
            "set ptp_timestamping: software explicitly (microsecond-class accuracy only)."
        )
    if mode == "software" and not ts.software:
        return (
            f"{interface} cannot do software timestamping either (ethtool -T {interface} lacks "
            "software-transmit/software-receive)."
        )
    return None


def tx_timestamp_timeout_ms(driver: str | None, configured: int | None = None) -> int:
    """ptp4l's tx_timestamp_timeout: the configured value, else the driver's, else 10 ms."""
    if configured is not None:
        return configured
    return TX_TIMESTAMP_TIMEOUT_MS.get(driver or "", DEFAULT_TX_TIMESTAMP_TIMEOUT_MS)
