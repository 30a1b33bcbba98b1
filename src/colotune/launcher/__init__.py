"""colotune-launch: the engine's launcher (preflight, per-thread pinning, signals, run summary).

Standard library only, apart from preflight, which runs the audit's controls
(colotune.checks, which need pydantic) on a snapshot by the audit's collector.
"""

from colotune.launcher.run import main

__all__ = ["main"]
