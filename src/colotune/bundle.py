"""Ship host code: colotune's standard-library host modules as one python3 program.

What colotune runs on a managed host (the topology reader, the collector, the
tuning engine) is sent as one self-contained program, so the host needs nothing
but python3. It reaches the host one way, built here, and runs:
- fed on stdin over one SSH round trip (`stdin_command`; the audit, the plan action,
  the tuning action),
- inlined, compressed, in one shell command (`inline_command`; front ends that
  cannot feed stdin, such as testinfra's host.run),
- or as a file a systemd unit runs (`executable("tune")`: colotune-tune).
The program first pins itself to the housekeeping CPUs with nothing but `os`, then
loads its modules as packages and runs its entry point.
"""

from __future__ import annotations

import base64
import json
import shlex
import zlib
from functools import cache
from importlib import util
from pathlib import Path
from typing import Any

# Every program: the modules it carries (dependencies first) and its entry point.
PROGRAMS: dict[str, tuple[tuple[str, ...], str]] = {
    "topology": (
        ("colotune.host.cpulist", "colotune.host.topology"),
        "import json\nfrom colotune.host import topology\n"
        "print(json.dumps(topology.snapshot('/')[1]))",
    ),
    "collector": (
        (
            "colotune.host.cpulist",
            "colotune.host.topology",
            "colotune.host.parsers",
            "colotune.host.collector",
        ),
        'raise SystemExit(sys.modules["colotune.host.collector"].main())',
    ),
    "tune": (
        (
            "colotune.host.cpulist",
            "colotune.host.topology",
            "colotune.host.parsers",
            "colotune.host.tune",
        ),
        "from colotune.host import tune\nraise SystemExit(tune.main())",
    ),
}

# Runs first on the target: pin to housekeeping CPUs with nothing but os, then
# load the bundled modules as packages.
_PREAMBLE = """\
import os, sys, types


def _cpus(path):
    try:
        text = open(path).read().strip()
    except OSError:
        return set()
    cpus = set()
    try:
        for part in filter(None, text.split(",")):
            low, _, high = part.partition("-")
            cpus.update(range(int(low), int(high or low) + 1))
    except ValueError:  # "(null)": nohz_full on a kernel booted without it
        return set()
    return cpus


_online = _cpus("/sys/devices/system/cpu/online")
_hk = _online - _cpus("/sys/devices/system/cpu/isolated") - _cpus(
    "/sys/devices/system/cpu/nohz_full"
)
if _hk:
    try:
        os.sched_setaffinity(0, _hk)
    except OSError:
        pass


def _load(name, source):
    parent, _, child = name.rpartition(".")
    if parent and parent not in sys.modules:
        _load(parent, "")
        sys.modules[parent].__path__ = []
    module = types.ModuleType(name)
    module.__file__ = "<colotune bundle: " + name + ">"
    if parent:
        module.__package__ = parent
    sys.modules[name] = module
    exec(compile(source, module.__file__, "exec"), module.__dict__)
    if parent:
        setattr(sys.modules[parent], child, module)
    return module


"""

# How a target runs the program it reads on stdin. Not `python3 -`: CPython reads a
# program from stdin through its line-by-line tokenizer, which costs the collector about
# 11 ms of host CPU, a fifth of its budget; one read and compile costs 0.5 ms.
STDIN_RUNNER = 'import sys;exec(compile(sys.stdin.read(),"<colotune program>","exec"))'


def _source(module: str) -> str:
    spec = util.find_spec(module)
    if spec is None or spec.origin is None:
        raise ImportError(f"no module {module}")
    return Path(spec.origin).read_text()


def _build(name: str, main: str) -> str:
    if name not in PROGRAMS:
        raise ValueError(f"no colotune program {name!r} (valid: {', '.join(PROGRAMS)})")
    modules, _ = PROGRAMS[name]
    parts = [_PREAMBLE]
    parts += [f"_load({module!r}, {_source(module)!r})\n" for module in modules]
    parts.append(main.rstrip() + "\n")
    return "".join(parts)


@cache
def program(name: str) -> str:
    """The program `name` (a key of PROGRAMS) with its own entry point."""
    return _build(name, PROGRAMS.get(name, ((), ""))[1])


def tune_module_program(params: dict[str, Any]) -> str:
    """The tuning engine run once as the role's colotune_tune action (tune.module_main)."""
    return _build(
        "tune",
        "from colotune.host import tune\n"
        f"raise SystemExit(tune.module_main({json.dumps(params)!r}))",
    )


def executable(name: str) -> str:
    """The program as a file a host runs by itself (a python3 shebang first)."""
    return "#!/usr/bin/python3\n" + program(name)


def _python_c(python: str, code: str, args: list[str] | None) -> str:
    """`python -S -c code args` as one shell command (-S: no site, its imports cost)."""
    words = ["-S", "-c", code, *(args or [])]
    return " ".join([python, *(shlex.quote(w) for w in words)])


def stdin_command(args: list[str] | None = None, *, python: str = "python3") -> str:
    """The shell command that runs a program fed on its stdin, with `args`."""
    return _python_c(python, STDIN_RUNNER, args)


def inline_command(name: str, args: list[str] | None = None, *, python: str = "python3") -> str:
    """One shell command that runs the program `name` (compressed, inline) with `args`."""
    packed = base64.b64encode(zlib.compress(program(name).encode(), 9)).decode()
    loader = f"import zlib,base64;exec(zlib.decompress(base64.b64decode('{packed}')))"
    return _python_c(python, loader, args)
