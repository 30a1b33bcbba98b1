"""The launcher's inputs: the trader config and the deployed plan, read with the standard library.

The launcher runs on the trading host from a small venv; reading its two JSON
files needs nothing but the standard library, so that a missing or broken
dependency can never stop the engine from being pinned. Both files are
checked here, and every problem is a LaunchError naming the file, the field,
the bad value and what would be valid (the CLI prints it and exits 2).

The trader config (/etc/colotune/trader.json, written by roles/trader from the
trader_* variables):

    {
      "host": "ny4-trade01",            # inventory name the plan must be for
      "engine": "/opt/colotune/engine/current/t2t",
      "args": ["--gateway", "10.0.0.5:31002"],
      "threads": ["t2t-hot"],           # planned threads (trader_threads)
      "pin_option": "--cpu",            # engine pins NAME=CPU at creation; null: none
      "stats_option": "--stats",        # engine writes its stats JSON; null: none
      "stats_dir": "/var/lib/colotune/trader",
      "sched_priority": null,           # SCHED_FIFO priority of the planned threads
      "memlock_mb": null,               # RLIMIT_MEMLOCK; null: unlimited
      "numa_membind": true,
      "onload": false, "onload_profile": "latency", "onload_env": {},
      "hugepages_free": null,
      "thread_wait_s": 30,
      "force_preflight": false,
      "profile": {"ptp_enabled": true, ...}   # colotune variables the controls read
    }
"""

from __future__ import annotations

import json
import re
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from colotune.errors import ColotuneError
from colotune.host import cpulist

DEFAULT_CONFIG = Path("/etc/colotune/trader.json")
DEFAULT_PLAN = Path("/etc/colotune/plan.json")
DEFAULT_STATS_DIR = Path("/var/lib/colotune/trader")
_THREAD_NAME = re.compile(r"[\w.-]{1,15}")
_OPTION = re.compile(r"--?[\w-]+")
_EF = re.compile(r"EF_[A-Z0-9_]+")
PLAN_FIELDS = (
    "host",
    "housekeeping_cpus",
    "isolated_cpus",
    "idle_cpus",
    "irq_cpus",
    "numa_node",
    "nic",
    "hugepages",
    "threads",
)


class LaunchError(ColotuneError):
    """Bad launcher input; the message names the file, field, value and what would be valid."""


def _load_json(path: Path, what: str) -> dict[str, Any]:
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise LaunchError(
            f"{what} {path} does not exist; deploy it with roles/trader "
            f"(ansible-playbook playbooks/trader.yml) or name another file with --{what.split()[0]}"
        ) from None
    except OSError as exc:
        raise LaunchError(f"{what} {path} cannot be read: {exc.strerror}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise LaunchError(
            f"{what} {path} is not JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None
    if not isinstance(data, dict):
        raise LaunchError(f"{what} {path} must hold a JSON object, not {type(data).__name__}")
    return data


@dataclass(frozen=True)
class PlanView:
    """What the launcher needs from plan.json (the full model is colotune.plan.Plan)."""

    raw: dict[str, Any]
    host: str | None
    housekeeping: frozenset[int]
    isolated: frozenset[int]
    idle: frozenset[int]
    numa_node: int
    nic: str | None
    hugepages_on_node: int  # 1 GiB pages the plan reserves on numa_node
    threads: dict[str, int]

    @property
    def usable(self) -> frozenset[int]:
        return self.isolated - self.idle


def parse_plan(data: dict[str, Any], source: str = "plan.json") -> PlanView:
    """Check the fields the launcher uses; anything else is the plan model's business."""
    missing = [name for name in PLAN_FIELDS if name not in data]
    if missing:
        raise LaunchError(
            f"{source} lacks {', '.join(missing)}; it is not a colotune plan "
            "(write it with `colotune plan --json` or roles/trader)"
        )

    def cpus(name: str) -> frozenset[int]:
        value = data[name]
        if not isinstance(value, str):
            raise LaunchError(f"{source}: {name}={value!r} must be a kernel cpulist string")
        try:
            return cpulist.parse(value)
        except cpulist.CpuListError as exc:
            raise LaunchError(f"{source}: {name}={value!r}: {exc}") from None

    node = data["numa_node"]
    if not isinstance(node, int) or isinstance(node, bool) or node < 0:
        raise LaunchError(f"{source}: numa_node={node!r} must be a NUMA node number (0 or more)")
    host = data["host"]
    if host is not None and not isinstance(host, str):
        raise LaunchError(f"{source}: host={host!r} must be a host name")
    nic = data["nic"]
    if not isinstance(nic, dict) or (
        nic.get("name") is not None and not isinstance(nic["name"], str)
    ):
        raise LaunchError(f"{source}: nic={nic!r} must be an object with a name")
    threads = data["threads"]
    if not isinstance(threads, dict):
        raise LaunchError(f"{source}: threads={threads!r} must map thread name -> CPU")
    for name, cpu in threads.items():
        if not _THREAD_NAME.fullmatch(name):
            raise LaunchError(
                f"{source}: thread name {name!r} must be 1-15 characters of letters, digits, _ . -"
            )
        if not isinstance(cpu, int) or isinstance(cpu, bool) or cpu < 0:
            raise LaunchError(f"{source}: threads.{name}={cpu!r} must be a CPU number")
    hugepages = data["hugepages"]
    if not isinstance(hugepages, dict):
        raise LaunchError(f"{source}: hugepages={hugepages!r} must map node -> size -> count")
    sizes = hugepages.get(str(node)) or {}
    count = sizes.get("1G", 0) if isinstance(sizes, dict) else 0
    plan = PlanView(
        raw=data,
        host=host,
        housekeeping=cpus("housekeeping_cpus"),
        isolated=cpus("isolated_cpus"),
        idle=cpus("idle_cpus"),
        numa_node=node,
        nic=nic.get("name"),
        hugepages_on_node=count if isinstance(count, int) else 0,
        threads=dict(threads),
    )
    wrong = {n: c for n, c in plan.threads.items() if c not in plan.usable}
    if wrong:
        shown = ", ".join(f"{n}={c}" for n, c in sorted(wrong.items()))
        raise LaunchError(
            f"{source}: thread CPU not isolated: {shown}; engine threads run only on the plan's "
            f"usable isolated CPUs ({cpulist.render(plan.usable) or 'none'})"
        )
    if len(set(plan.threads.values())) != len(plan.threads):
        raise LaunchError(f"{source}: threads={plan.threads} puts two threads on one CPU")
    if not plan.housekeeping:
        raise LaunchError(
            f"{source}: housekeeping_cpus is empty; the engine's other threads "
            "need somewhere to run"
        )
    return plan


@dataclass(frozen=True)
class TraderConfig:
    """The trader config, checked."""

    engine: str
    host: str | None = None
    args: tuple[str, ...] = ()
    threads: tuple[str, ...] = ("t2t-hot",)
    pin_option: str | None = "--cpu"
    stats_option: str | None = "--stats"
    stats_dir: str = str(DEFAULT_STATS_DIR)
    sched_priority: int | None = None
    memlock_mb: int | None = None
    numa_membind: bool = True
    onload: bool = False
    onload_profile: str = "latency"
    onload_env: dict[str, str] = field(default_factory=dict)
    hugepages_free: int | None = None
    thread_wait_s: float = 30.0
    force_preflight: bool = False
    profile: dict[str, Any] = field(default_factory=dict)


def _typed(
    data: dict[str, Any], name: str, kinds: tuple[type, ...], valid: str, source: str
) -> Any:
    value = data[name]
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        raise LaunchError(f"{source}: {name}={value!r} is not valid (valid: {valid})")
    return value


def parse_config(data: dict[str, Any], source: str = "trader.json") -> TraderConfig:
    known = set(TraderConfig.__dataclass_fields__)
    unknown = sorted(set(data) - known)
    if unknown:
        raise LaunchError(
            f"{source}: unknown field(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})"
        )
    if "engine" not in data:
        raise LaunchError(f"{source}: engine is missing (the path of the engine binary)")
    values: dict[str, Any] = {}
    nullable_int = (int, type(None))
    checks: dict[str, tuple[tuple[type, ...], str]] = {
        "engine": ((str,), "an absolute path"),
        "host": ((str, type(None)), "a host name or null"),
        "args": ((list,), "a list of strings"),
        "threads": ((list,), "a list of thread names"),
        "pin_option": ((str, type(None)), "an option such as --cpu, or null"),
        "stats_option": ((str, type(None)), "an option such as --stats, or null"),
        "stats_dir": ((str,), "a directory path"),
        "sched_priority": (nullable_int, "1-99 or null"),
        "memlock_mb": (nullable_int, "MiB (1 or more) or null for unlimited"),
        "numa_membind": ((bool,), "true or false"),
        "onload": ((bool,), "true or false"),
        "onload_profile": ((str,), "an Onload profile name"),
        "onload_env": ((dict,), "an object of EF_* variables"),
        "hugepages_free": (nullable_int, "a page count (0 or more) or null"),
        "thread_wait_s": ((int, float), "seconds, more than 0"),
        "force_preflight": ((bool,), "true or false"),
        "profile": ((dict,), "an object of colotune variables"),
    }
    for name, (kinds, valid) in checks.items():
        if name in data:
            values[name] = _typed(data, name, kinds, valid, source)
    if not values["engine"].startswith("/"):
        raise LaunchError(f"{source}: engine={values['engine']!r} must be an absolute path")
    for name in ("args", "threads"):
        if name in values:
            if not all(isinstance(v, str) for v in values[name]):
                raise LaunchError(f"{source}: {name} must be a list of strings")
            values[name] = tuple(values[name])
    for name in values.get("threads", ()):
        if not _THREAD_NAME.fullmatch(name):
            raise LaunchError(
                f"{source}: thread name {name!r} must be 1-15 characters of letters, digits, _ . -"
            )
    for name in ("pin_option", "stats_option"):
        option = values.get(name)
        if option is not None and not _OPTION.fullmatch(option):
            raise LaunchError(f"{source}: {name}={option!r} is not an option (valid: e.g. --cpu)")
    prio = values.get("sched_priority")
    if prio is not None and not 1 <= prio <= 99:
        raise LaunchError(f"{source}: sched_priority={prio} is out of range (valid: 1-99 or null)")
    memlock = values.get("memlock_mb")
    if memlock is not None and memlock < 1:
        raise LaunchError(f"{source}: memlock_mb={memlock} (valid: 1 or more, null: unlimited)")
    pages = values.get("hugepages_free")
    if pages is not None and pages < 0:
        raise LaunchError(f"{source}: hugepages_free={pages} (valid: 0 or more, or null)")
    if "thread_wait_s" in values and values["thread_wait_s"] <= 0:
        raise LaunchError(f"{source}: thread_wait_s={values['thread_wait_s']} must be above 0")
    env = values.get("onload_env", {})
    for key, value in env.items():
        if not _EF.fullmatch(str(key)) or not isinstance(value, str):
            raise LaunchError(
                f"{source}: onload_env {key}={value!r}: names are EF_ variables, values strings"
            )
    return TraderConfig(**values)


def load(config_path: Path, plan_path: Path) -> tuple[TraderConfig, PlanView]:
    config = parse_config(_load_json(config_path, "config file"), str(config_path))
    plan = parse_plan(_load_json(plan_path, "plan file"), str(plan_path))
    return config, plan


def check_host(plan: PlanView, config: TraderConfig, *, hostname: str | None = None) -> None:
    """The plan must be for this host: the config's inventory name or the machine's name."""
    if plan.host is None:
        return
    machine = hostname if hostname is not None else socket.gethostname()
    names = {machine, machine.split(".")[0]}
    if config.host:
        names.add(config.host)
    if plan.host in names or plan.host.split(".")[0] in names:
        return
    raise LaunchError(
        f"the plan is for host {plan.host!r}, but this is {' / '.join(sorted(names))}; "
        "deploy this host's own plan (roles/trader writes it) or name it with --plan"
    )


def check_threads(plan: PlanView, config: TraderConfig) -> None:
    """Every planned thread must be one the config expects, and the reverse."""
    planned, expected = set(plan.threads), set(config.threads)
    if planned != expected:
        raise LaunchError(
            f"the plan pins threads {sorted(planned)} but the trader config expects "
            f"{sorted(expected)}; redeploy both from one inventory (roles/trader)"
        )
