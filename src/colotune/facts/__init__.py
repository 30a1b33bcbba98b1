"""Facts: the on-host collector, its pure parsers, and the snapshot the controls judge.

- `collector_script()` / `collector_command()`: the collector as one python3 program.
- `collect(host_vars)`: run it on one inventory host over SSH, get the snapshot dict;
  `live_topology(host_vars)`: just the host's Topology (for `colotune plan -l HOST`).
- `Snapshot(raw)`: a snapshot read through the parsers, for the controls.
"""

from colotune.facts.remote import (
    CollectError,
    collect,
    collector_command,
    collector_script,
    connection,
    live_topology,
)
from colotune.facts.snapshot import Snapshot, SnapshotError

__all__ = [
    "CollectError",
    "Snapshot",
    "SnapshotError",
    "collect",
    "collector_command",
    "collector_script",
    "connection",
    "live_topology",
]
