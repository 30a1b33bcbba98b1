"""PTP (linuxptp) knowledge shared by the role, the probe, the collector and the controls.

Standard library only, so the on-host collector can ship it:

- `pmc`: the management query colotune sends to ptp4l, and one sample from its answer
  (built on `colotune.host.parsers.parse_pmc`, the one pmc parser).
- `window`: distributions of offset and path delay over a window of samples, the
  port-state changes seen, FAULTY, Sync freshness, and the verdict for a client or a
  grandmaster.
- `log`: ptp4l and phc2sys log lines (offsets, port-state changes, faults).
- `timestamping`: what `ethtool -T` says a NIC can do, and ptp4l settings per driver.
"""
