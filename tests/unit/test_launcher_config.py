"""The launcher's stdlib reading of plan.json and the trader config, against the plan model."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from colotune.launcher import config as lc
from colotune.launcher.run import engine_command, parse_args
from colotune.plan import Plan, PlanNic


def model_plan(**changes: Any) -> dict[str, Any]:
    """A plan as the pydantic model dumps it (what roles/trader writes to plan.json)."""
    fields: dict[str, Any] = {
        "host": "ny4-trade01",
        "housekeeping_cpus": "0-1,8-9",
        "isolated_cpus": "2-7,10-15",
        "idle_cpus": "10-15",
        "irq_cpus": "0-1",
        "numa_node": 1,
        "nic": PlanNic(name="eth1", numa_node=1, pci_address="0000:81:00.0", driver="igb"),
        "hugepages": {"1": {"1G": 2}},
        "hugepages_runtime": False,
        "kernel_args": ["isolcpus=managed_irq,domain,2-7,10-15"],
        "threads": {"t2t-hot": 2, "md-hot": 3},
        "explanations": [],
    }
    fields.update(changes)
    return Plan(**fields).model_dump(mode="json")


def test_stdlib_reading_agrees_with_the_plan_model() -> None:
    raw = model_plan()
    view = lc.parse_plan(raw)
    model = Plan.model_validate(raw)
    assert view.usable == model.usable_cpus
    assert view.housekeeping == model.cpus("housekeeping_cpus")
    assert view.threads == model.threads
    assert (view.host, view.nic, view.numa_node, view.hugepages_on_node) == (
        "ny4-trade01",
        "eth1",
        1,
        2,
    )


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"threads": {"t2t-hot": 0}}, "thread CPU not isolated: t2t-hot=0"),
        ({"threads": {"t2t-hot": 10}}, "thread CPU not isolated: t2t-hot=10"),  # idle sibling
        ({"threads": {"a": 2, "b": 2}}, "puts two threads on one CPU"),
        ({"threads": {"a-name-longer-than-15": 2}}, "must be 1-15 characters"),
        ({"isolated_cpus": "2-x"}, "isolated_cpus='2-x'"),
        ({"numa_node": -1}, "numa_node=-1"),
        ({"housekeeping_cpus": ""}, "housekeeping_cpus is empty"),
    ],
)
def test_bad_plans_name_the_field(changes: dict[str, Any], message: str) -> None:
    raw = {**model_plan(), **changes}
    with pytest.raises(lc.LaunchError, match=None) as caught:
        lc.parse_plan(raw, "p.json")
    assert message in str(caught.value)
    assert str(caught.value).startswith("p.json")


def test_a_file_that_is_not_a_plan(tmp_path: Path) -> None:
    (tmp_path / "plan.json").write_text('{"host": "x"}')
    (tmp_path / "trader.json").write_text('{"engine": "/bin/true"}')
    with pytest.raises(lc.LaunchError, match="lacks housekeeping_cpus"):
        lc.load(tmp_path / "trader.json", tmp_path / "plan.json")
    (tmp_path / "plan.json").write_text("{not json")
    with pytest.raises(lc.LaunchError, match=r"is not JSON \(line 1"):
        lc.load(tmp_path / "trader.json", tmp_path / "plan.json")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "engine is missing"),
        ({"engine": "t2t"}, "must be an absolute path"),
        ({"engine": "/x", "sched_priority": 100}, "sched_priority=100 is out of range"),
        ({"engine": "/x", "sched_priority": True}, "sched_priority=True is not valid"),
        ({"engine": "/x", "onload_env": {"POLL": "1"}}, "names are EF_ variables"),
        ({"engine": "/x", "pin_option": "cpu"}, "pin_option='cpu' is not an option"),
        ({"engine": "/x", "memlock_mb": 0}, "memlock_mb=0"),
        ({"engine": "/x", "args": [1]}, "args must be a list of strings"),
        ({"engine": "/x", "colour": "red"}, "unknown field(s) colour"),
    ],
)
def test_bad_configs_name_the_field(data: dict[str, Any], message: str) -> None:
    with pytest.raises(lc.LaunchError) as caught:
        lc.parse_config(data)
    assert message in str(caught.value)


def test_the_plan_must_be_for_this_host() -> None:
    plan = lc.parse_plan(model_plan(host="ny4-trade01"))
    config = lc.parse_config({"engine": "/x", "host": "ny4-trade01"})
    lc.check_host(plan, config, hostname="something-else")  # the inventory name matches
    lc.check_host(plan, lc.parse_config({"engine": "/x"}), hostname="ny4-trade01.example.net")
    with pytest.raises(lc.LaunchError, match="the plan is for host 'ny4-trade01'"):
        lc.check_host(plan, lc.parse_config({"engine": "/x"}), hostname="ny5-trade01")


def test_plan_and_config_must_name_the_same_threads() -> None:
    plan = lc.parse_plan(model_plan())
    with pytest.raises(lc.LaunchError, match=r"expects \['t2t-hot'\]"):
        lc.check_threads(plan, lc.parse_config({"engine": "/x", "threads": ["t2t-hot"]}))
    lc.check_threads(plan, lc.parse_config({"engine": "/x", "threads": ["md-hot", "t2t-hot"]}))


def test_engine_command_pins_each_planned_thread() -> None:
    plan = lc.parse_plan(model_plan())
    config = lc.parse_config({"engine": "/opt/t2t", "args": ["--port", "1"], "threads": []})
    assert engine_command(config, plan, ["--exit-on-end"]) == [
        "/opt/t2t",
        "--port",
        "1",
        "--exit-on-end",
        "--cpu",
        "md-hot=3",
        "--cpu",
        "t2t-hot=2",
    ]
    bare = lc.parse_config({"engine": "/opt/e", "pin_option": None})
    assert engine_command(bare, plan, []) == ["/opt/e"]


def test_options_after_double_dash_go_to_the_engine() -> None:
    args = parse_args(["--force", "--", "--exit-on-end", "--port", "9"])
    assert args.force and args.engine_args == ["--exit-on-end", "--port", "9"]


def test_the_launcher_imports_nothing_outside_the_standard_library(
    isolated_python: Callable[[str], str],
) -> None:
    """Pinning must work in a venv without pydantic; only preflight's controls need it."""
    code = (
        "import sys\n"
        "for name in ('pydantic', 'pydantic_core', 'yaml', 'ansible', 'psutil'):\n"
        "    sys.modules[name] = None\n"
        "import colotune.launcher, colotune.launcher.threads, colotune.launcher.system\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('pydantic', 'yaml', 'ansible', 'psutil') and sys.modules[m] is not None)\n"
        "print(bad)\n"
    )
    assert json.loads(isolated_python(code).replace("'", '"')) == []
