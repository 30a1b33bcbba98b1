"""Controls for roles/tuning (TUN-0xx): effective kernel state against the plan, one module
per subsystem. Importing the package registers them all."""

from colotune.checks.tuning import (  # noqa: F401  (registers the controls)
    cmdline,
    cpu,
    housekeeping,
    irq,
    memory,
    nic,
    sysctl,
)
