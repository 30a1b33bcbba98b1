"""Process settings the engine inherits: locked-memory limit, NUMA memory policy, parent death.

Everything here uses the standard library (resource, os, ctypes into libc).
Each function returns one line saying what was applied, for the log and the
run summary; none of them pretends: what could not be applied is said so.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import resource
import shutil
import signal

MPOL_BIND = 2
PR_SET_PDEATHSIG = 1
SYS_SET_MEMPOLICY = 238  # x86_64
SYS_GET_MEMPOLICY = 239


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def set_memlock(mb: int | None) -> str:
    """Raise RLIMIT_MEMLOCK (soft and hard) to `mb` MiB, or unlimited when None.

    Without CAP_SYS_RESOURCE the hard limit cannot go up; then the soft limit is
    raised to the hard one and the line says so (CAP_IPC_LOCK, which roles/trader
    grants, exempts mlock from the limit anyway).
    """
    want = resource.RLIM_INFINITY if mb is None else mb * 1024 * 1024
    shown = "unlimited" if mb is None else f"{mb} MiB"
    try:
        resource.setrlimit(resource.RLIMIT_MEMLOCK, (want, want))
        return f"memlock: {shown}"
    except (ValueError, OSError):
        _, hard = resource.getrlimit(resource.RLIMIT_MEMLOCK)
        soft = hard if want == resource.RLIM_INFINITY or want > hard else want
        resource.setrlimit(resource.RLIMIT_MEMLOCK, (soft, hard))
        limit = "unlimited" if soft == resource.RLIM_INFINITY else f"{soft // 1048576} MiB"
        return (
            f"memlock: {limit} (wanted {shown}; the hard limit is lower: raise LimitMEMLOCK "
            "in the unit or grant CAP_SYS_RESOURCE)"
        )


def node_exists(node: int, root: str = "/") -> bool:
    return os.path.isdir(os.path.join(root, f"sys/devices/system/node/node{node}"))


def numactl_prefix(node: int) -> list[str] | None:
    """`numactl --membind=N --` when numactl is installed, else None."""
    path = shutil.which("numactl")
    return [path, f"--membind={node}", "--"] if path else None


def bind_memory(node: int) -> str:
    """set_mempolicy(MPOL_BIND, {node}) on the calling thread; children inherit it on exec."""
    if os.uname().machine != "x86_64":
        return (
            "NUMA memory policy not applied (no set_mempolicy syscall number for "
            f"{os.uname().machine}; install numactl)"
        )
    bits = 64
    words = node // bits + 1
    mask = (ctypes.c_ulong * words)()
    mask[node // bits] = 1 << (node % bits)
    libc = _libc()
    rc = libc.syscall(SYS_SET_MEMPOLICY, MPOL_BIND, mask, ctypes.c_ulong(words * bits + 1))
    if rc != 0:
        err = ctypes.get_errno()
        return f"NUMA memory policy not applied: set_mempolicy failed ({os.strerror(err)})"
    return f"memory bound to NUMA node {node} (set_mempolicy MPOL_BIND)"


def reset_memory_policy() -> None:
    """Back to the default policy for the launcher itself once the engine has started."""
    libc = _libc()
    libc.syscall(SYS_SET_MEMPOLICY, 0, None, ctypes.c_ulong(0))


def die_with_parent() -> None:
    """In the child before exec: get SIGTERM if the launcher dies."""
    _libc().prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
