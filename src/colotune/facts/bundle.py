"""The collector as one self-contained python3 program, for one SSH round trip.

`collector_script()` bundles the sources of colotune.cpulist,
colotune.topology, colotune.facts.parsers and colotune.facts.collector into a
single program that a target runs from stdin with `stdin_command()`, and
`collector_command()` wraps the same program, compressed, into one shell
command (`python3 -c ...`) for front ends that cannot feed stdin (testinfra's
host.run). The program pins itself to the housekeeping CPUs before it
compiles anything else.
"""

from __future__ import annotations

import base64
import shlex
import zlib
from functools import cache
from importlib import resources

MODULES = (
    ("colotune.cpulist", "colotune", "cpulist.py"),
    ("colotune.topology", "colotune", "topology.py"),
    ("colotune.facts.parsers", "colotune.facts", "parsers.py"),
    ("colotune.facts.collector", "colotune.facts", "collector.py"),
)

# Runs first on the target: pin to housekeeping CPUs with nothing but os, then
# load the bundled modules as a package and run the collector.
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


def _package(name):
    module = types.ModuleType(name)
    module.__path__ = []
    sys.modules[name] = module
    return module


_package("colotune")
_package("colotune.facts")


def _load(name, source):
    module = types.ModuleType(name)
    module.__file__ = "<colotune bundle: " + name + ">"
    sys.modules[name] = module
    exec(compile(source, module.__file__, "exec"), module.__dict__)
    parent, _, child = name.rpartition(".")
    setattr(sys.modules[parent], child, module)
    return module


"""


# How a target runs the program it reads on stdin. Not `python3 -`: CPython reads a
# program from stdin through its line-by-line tokenizer, which costs this program about
# 11 ms of host CPU, a fifth of the collector's budget; one read and compile costs 0.5 ms.
STDIN_RUNNER = 'import sys;exec(compile(sys.stdin.read(),"<colotune collector>","exec"))'


def _python_c(python: str, program: str, args: list[str] | None) -> str:
    """`python -S -c program args` as one shell command (-S: no site, its imports cost)."""
    words = ["-S", "-c", program, *(args or [])]
    return " ".join([python, *(shlex.quote(w) for w in words)])


def stdin_command(args: list[str] | None = None, *, python: str = "python3") -> str:
    """The shell command that runs the collector program fed on its stdin, with `args`."""
    return _python_c(python, STDIN_RUNNER, args)


@cache
def collector_script() -> str:
    """The collector as one python3 program: `stdin_command(options)` < program prints JSON."""
    parts = [_PREAMBLE]
    for name, package, filename in MODULES:
        source = resources.files(package).joinpath(filename).read_text()
        parts.append(f"_load({name!r}, {source!r})\n")
    parts.append('raise SystemExit(sys.modules["colotune.facts.collector"].main())\n')
    return "".join(parts)


def collector_command(args: list[str] | None = None, *, python: str = "python3") -> str:
    """One shell command that runs the collector (compressed program inline) with `args`."""
    packed = base64.b64encode(zlib.compress(collector_script().encode(), 9)).decode()
    loader = f"import zlib,base64;exec(zlib.decompress(base64.b64decode('{packed}')))"
    return _python_c(python, loader, args)
