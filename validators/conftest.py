"""The validators: colotune's controls as a pytest-testinfra suite, run against hosts named on the
command line.

    .venv/bin/pytest validators --hosts=ansible://lab --ansible-inventory=inventory \
        --waivers=validators/waivers/lab.yml --junitxml=validators.xml

One snapshot per host (the collector, run once through testinfra's host.run),
one test per control of the registry (test_controls.py makes them from
colotune.checks, each marked `@pytest.mark.control("TUN-001")`; a test without
exactly one known control ID is refused), expected values from the inventory
through the profile and the plan. Waivers come from validators/waivers/<env>.yml;
an expired waiver stops applying. Markers `hardware`, `reboot` and `slow` say
what a test needs, with a reason (a control's `needs`); skip them with
`--skip-marker=hardware,slow`.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from colotune import checks, inventory, profile
from colotune.audit import nic_args
from colotune.audit import waivers as waiver_mod
from colotune.facts import Snapshot, collector_command
from colotune.facts.remote import collector_args
from colotune.plan import Plan, make_plan

MARKERS = {
    "control": "control(ID): the colotune control this test checks (required, one per test)",
    "hardware": "hardware(reason=...): needs a real NIC or PHC; skipped on VMs with the reason",
    "reboot": "reboot(reason=...): judges state that only a reboot applies",
    "slow": "slow(reason=...): measures over a window of seconds",
}
ENV_MARKERS = ("hardware", "reboot", "slow")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("colotune")
    group.addoption("--waivers", default=None, help="waiver file (validators/waivers/<env>.yml)")
    group.addoption(
        "--profile",
        default=None,
        help="YAML profile for hosts that are not in the Ansible inventory (ssh:// targets)",
    )
    group.addoption(
        "--skip-marker",
        default="",
        help="comma-separated markers to skip (hardware, reboot, slow), with their reasons",
    )
    group.addoption(
        "--irq-window", type=float, default=0.0, help="seconds of interrupt counting (TUN-025)"
    )
    group.addoption(
        "--ptp-window", type=float, default=0.0, help="seconds of PTP offset sampling (PTP-005)"
    )
    group.addoption(
        "--snapshot-dir", default=None, help="also write each host's snapshot JSON here"
    )


def pytest_configure(config: pytest.Config) -> None:
    for name, text in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {text}")
    unknown = {m for m in _skipped(config) if m not in ENV_MARKERS}
    if unknown:
        raise pytest.UsageError(
            f"--skip-marker: unknown marker(s) {', '.join(sorted(unknown))} "
            f"(valid: {', '.join(ENV_MARKERS)})"
        )


def _skipped(config: pytest.Config) -> set[str]:
    return {m.strip() for m in str(config.getoption("--skip-marker")).split(",") if m.strip()}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Refuse a test without exactly one known control ID; refuse env markers without a reason."""
    problems: list[str] = []
    known = {c.id for c in checks.all_controls()}
    skipped = _skipped(config)
    for item in items:
        marks = list(item.iter_markers("control"))
        if len(marks) != 1 or len(marks[0].args) != 1:
            problems.append(f'{item.nodeid}: needs exactly one @pytest.mark.control("ID")')
            continue
        if marks[0].args[0] not in known:
            problems.append(f"{item.nodeid}: unknown control {marks[0].args[0]!r}")
        for name in ENV_MARKERS:
            mark = item.get_closest_marker(name)
            if mark is None:
                continue
            reason = mark.kwargs.get("reason")
            if not reason:
                problems.append(f"{item.nodeid}: @pytest.mark.{name} needs reason=...")
            elif name in skipped:
                item.add_marker(pytest.mark.skip(reason=f"{name}: {reason}"))
    if problems:
        raise pytest.UsageError("validators refused:\n  " + "\n  ".join(problems))


# ---------------------------------------------------------------- per-host facts

_SNAPSHOTS: dict[str, dict[str, Any]] = {}


def _host_name(host: Any) -> str:
    return str(host.backend.get_hostname())


@pytest.fixture(scope="module")
def snapshot(
    host: Any, host_profile: profile.HostProfile, request: pytest.FixtureRequest
) -> Snapshot:
    """The host's one snapshot, collected once per session through testinfra."""
    name = _host_name(host)
    if name not in _SNAPSHOTS:
        args = collector_args(
            irq_window=request.config.getoption("--irq-window"),
            ptp_window=request.config.getoption("--ptp-window"),
        ) + nic_args(host_profile)
        out = host.run(collector_command(args))
        if out.rc != 0:
            pytest.fail(f"{name}: the collector failed (rc {out.rc}): {out.stderr.strip()[-500:]}")
        _SNAPSHOTS[name] = json.loads(out.stdout)
        folder = request.config.getoption("--snapshot-dir")
        if folder:
            Path(folder).mkdir(parents=True, exist_ok=True)
            (Path(folder) / f"{name}.json").write_text(json.dumps(_SNAPSHOTS[name]))
    return Snapshot(_SNAPSHOTS[name])


@pytest.fixture(scope="module")
def host_profile(host: Any, request: pytest.FixtureRequest) -> profile.HostProfile:
    """The host's profile from the Ansible inventory (or --profile for hosts outside it)."""
    name = _host_name(host)
    source = request.config.getoption("--ansible-inventory")
    if source:
        try:
            variables = inventory.host_variables(source, name)
        except Exception:  # not in the inventory: fall through to --profile
            variables = {}
        if name in variables:
            return profile.build(variables[name], host=name)
    path = request.config.getoption("--profile")
    if path:
        data = yaml.safe_load(Path(path).read_text()) or {}
        return profile.build(data, host=name)
    pytest.fail(f"{name}: no profile (not in --ansible-inventory, and no --profile FILE given)")


@pytest.fixture(scope="module")
def plan(host: Any, snapshot: Snapshot, host_profile: profile.HostProfile) -> Plan:
    """The host's plan, from its live topology and its profile."""
    return make_plan(snapshot.topology, host_profile, host=_host_name(host))


@pytest.fixture(scope="session")
def waiver_list(request: pytest.FixtureRequest) -> list[waiver_mod.Waiver]:
    return waiver_mod.load(request.config.getoption("--waivers"))


@pytest.fixture
def verify(
    request: pytest.FixtureRequest,
    host: Any,
    plan: Plan,
    snapshot: Snapshot,
    host_profile: profile.HostProfile,
    waiver_list: list[waiver_mod.Waiver],
) -> Callable[[], None]:
    """A function that judges the test's control: returns on pass, fails with the finding,
    skips when not applicable, xfails when waived (until the waiver expires) or when a
    warning-level control drifts."""
    control_id = request.node.get_closest_marker("control").args[0]
    # In the JUnit XML: <property name="control" value="TUN-001"/> and the host.
    request.node.user_properties.append(("control", control_id))
    request.node.user_properties.append(("host", _host_name(host)))

    def judge() -> None:
        result = checks.run(control_id, plan, snapshot, host_profile)
        if result.status == "not_applicable":
            pytest.skip(result.message)
        if result.status == "pass":
            return
        active, expired = waiver_mod.find(
            waiver_list, control_id, _host_name(host), dt.datetime.now(dt.UTC).date()
        )
        if active is not None:
            pytest.xfail(
                f"waived until {active.expires}: {active.justification}: {result.explain()}"
            )
        if checks.get(control_id).severity == "warning":
            pytest.xfail(f"warning: {result.explain()}")
        note = f" (waiver expired {expired.expires}: {expired.justification})" if expired else ""
        pytest.fail(result.explain() + note, pytrace=False)

    return judge
