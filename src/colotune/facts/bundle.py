"""The collector as one self-contained python3 program, for one SSH round trip.

`collector_script()` bundles the sources of colotune.cpulist,
colotune.topology, colotune.facts.parsers and colotune.facts.collector into a
single program that a target runs with `python3 -` (program on stdin), and
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


class _Later(types.ModuleType):
    # Modules the bundled code imports but never uses on a host (topology's recorder needs
    # tarfile and tempfile): a stand-in that imports the real module on first use. Cheaper
    # than importlib's LazyLoader, whose import alone costs milliseconds of the budget.
    def __getattr__(self, attr):
        del sys.modules[self.__name__]
        real = __import__(self.__name__)
        sys.modules[self.__name__] = real
        return getattr(real, attr)


for _name in ("tarfile", "tempfile"):
    sys.modules[_name] = _Later(_name)

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


@cache
def collector_script() -> str:
    """The collector as one python3 program: `python3 - [options] < program` prints the JSON."""
    parts = [_PREAMBLE]
    for name, package, filename in MODULES:
        source = resources.files(package).joinpath(filename).read_text()
        parts.append(f"_load({name!r}, {source!r})\n")
    parts.append('raise SystemExit(sys.modules["colotune.facts.collector"].main())\n')
    return "".join(parts)


def collector_command(args: list[str] | None = None, *, python: str = "python3 -S") -> str:
    """One shell command that runs the collector (compressed program inline) with `args`."""
    packed = base64.b64encode(zlib.compress(collector_script().encode(), 9)).decode()
    loader = f"import zlib,base64;exec(zlib.decompress(base64.b64decode('{packed}')))"
    words = ["-c", loader, *(args or [])]
    return " ".join([python, *(shlex.quote(w) for w in words)])
