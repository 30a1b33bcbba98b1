"""One self-contained python3 program from standard-library-only colotune modules.

What colotune runs on a managed host (the topology reader, the tuning engine,
the collector) is sent as a single script, so the host needs nothing but
python3: `python3 - < script` over one SSH round trip, or a file a systemd
unit runs.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

_LOADER = """import sys, types
def _colotune_module(name, source):
    module = types.ModuleType(name)
    module.__file__ = "<colotune:" + name + ">"
    sys.modules[name] = module
    parent, _, leaf = name.rpartition(".")
    if parent:
        setattr(sys.modules[parent], leaf, module)
        module.__package__ = parent
    else:
        module.__path__ = []
    exec(compile(source, module.__file__, "exec"), module.__dict__)
    return module
_colotune_module("colotune", "")
"""


def source_of(module: str) -> str:
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise ImportError(f"no module {module}")
    return Path(spec.origin).read_text()


def script(modules: list[str], main: str) -> str:
    """A program defining `modules` (in order, dependencies first), then running `main`."""
    parts = [_LOADER]
    for module in modules:
        parts.append(f"_colotune_module({module!r}, {source_of(module)!r})\n")
    parts.append(main.rstrip() + "\n")
    return "".join(parts)


def topology_script() -> str:
    """Prints the topology files of the host it runs on, as JSON (see topology.snapshot)."""
    return script(
        ["colotune.cpulist", "colotune.topology"],
        "import json\nfrom colotune import topology\n"
        "print(json.dumps(topology.snapshot('/')[1]))",
    )


def tune_script() -> str:
    """colotune-tune: the on-host tuning engine as a command (see colotune.tune.main)."""
    return "#!/usr/bin/python3\n" + script(
        ["colotune.cpulist", "colotune.tune"],
        "from colotune import tune\nraise SystemExit(tune.main())",
    )
