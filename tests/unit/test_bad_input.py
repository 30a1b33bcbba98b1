"""Bad input, everywhere input enters colotune: the contract as one table.

Every row gives the real `colotune` command (in a subprocess) one malformed
input, through the way a user gives it: a profile file (--profile), a `-e`
value, inventory files (-i), a waiver file (--waivers) or command-line options.
Each must end with the exit code of the row (2 for bad input), a message that
names what was wrong, no traceback, no result printed and no file written.
A few rows give good input through the same paths, so that a check that
refuses everything fails here too. docs/bad-input.md states the contract.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
COLOTUNE = Path(sys.executable).with_name("colotune")
TOPOLOGY = REPO / "tests" / "fixtures" / "topology" / "xeon-gold-5122-2s.tar.gz"
NIC = "ens1f0np0"  # the trading NIC of that topology

# Nine levels of nine aliases: 9**9 values once expanded ("billion laughs").
BOMB = "\n".join(
    [
        'l0: &l0 ["x","x","x","x","x","x","x","x","x"]',
        *(f"l{i}: &l{i} [{','.join([f'*l{i - 1}'] * 9)}]" for i in range(1, 9)),
    ]
)
BOMB_FLOW = "{" + ", ".join(BOMB.splitlines()) + "}"  # the same, on one line


@dataclass(frozen=True)
class Case:
    id: str
    argv: tuple[str, ...]  # after `colotune`; {dir} is the case's directory
    code: int
    says: str  # a fragment the message (stderr) must contain; for code 0, stdout
    files: dict[str, str | bytes] = field(default_factory=dict)
    writes: tuple[str, ...] = ()  # files the command would write on success: never on error


def profile_case(id: str, content: str | bytes, says: str, code: int = 2, *extra: str) -> Case:
    """A profile file, planned against a recorded topology."""
    return Case(
        id,
        ("plan", "--profile", "{dir}/profile.yml", "--sysfs-root", str(TOPOLOGY), *extra),
        code,
        says,
        {"profile.yml": content},
    )


def extra_case(id: str, values: list[str], says: str, code: int = 2) -> Case:
    """-e values, planned against a recorded topology."""
    argv: list[str] = ["plan", "--sysfs-root", str(TOPOLOGY)]
    for value in values:
        argv += ["-e", value]
    return Case(id, tuple(argv), code, says)


def nic_and(value: str) -> list[str]:
    return [f"tuning_nic={NIC}", value]


HOSTS = "all:\n  hosts:\n    h1:\n      ansible_host: 127.0.0.1\n"


def inventory_case(id: str, host_vars: str | bytes, says: str, code: int = 2) -> Case:
    """host_vars of one inventory host, checked with `inventory check`."""
    return Case(
        id,
        ("inventory", "check", "-i", "{dir}/inv"),
        code,
        says,
        {"inv/hosts.yml": HOSTS, "inv/host_vars/h1.yml": host_vars},
    )


def waiver_case(id: str, content: str | bytes | None, says: str) -> Case:
    """A waiver file given to the audit; refused before any host is contacted."""
    files: dict[str, str | bytes] = {
        "inv/hosts.yml": HOSTS,
        "inv/host_vars/h1.yml": f"tuning_nic: {NIC}\n",
    }
    if content is not None:
        files["waivers.yml"] = content
    return Case(
        id,
        (
            "audit", "-i", "{dir}/inv", "-l", "h1", "--waivers", "{dir}/waivers.yml",
            "--timeout", "1", "--junit", "{dir}/out.xml", "--history", "{dir}/history.jsonl",
        ),
        2,
        says,
        files,
        writes=("out.xml", "history.jsonl"),
    )  # fmt: skip


def audit_argv(id: str, option: str, value: str, says: str) -> Case:
    return Case(
        id,
        ("audit", "-i", "{dir}/inv", "-l", "h1", f"{option}={value}", "--junit", "{dir}/out.xml"),
        2,
        says,
        {"inv/hosts.yml": HOSTS, "inv/host_vars/h1.yml": f"tuning_nic: {NIC}\n"},
        writes=("out.xml",),
    )


def probe_argv(id: str, option: str, value: str, says: str) -> Case:
    return Case(
        id, ("probe", "ptp", "--local", "--uds", "/nonexistent", f"{option}={value}"), 2, says
    )


NOT_UTF8 = b"tuning_nic: eth0\ntuning_governor: perf\xe9rmance\n"
BINARY = bytes(range(256)) * 4

CASES: list[Case] = [
    # --- a profile file (--profile) ---
    profile_case("profile-good", f"tuning_nic: {NIC}\n", "isolated CPUs", 0),
    Case(
        "profile-missing",
        ("plan", "--profile", "{dir}/nope.yml", "--sysfs-root", str(TOPOLOGY)),
        2,
        "nope.yml does not exist",
    ),
    Case(
        "profile-directory",
        ("plan", "--profile", "{dir}", "--sysfs-root", str(TOPOLOGY)),
        2,
        "is a directory",
    ),
    profile_case("profile-not-utf8", NOT_UTF8, "is not UTF-8 text (byte 0xe9"),
    profile_case("profile-binary", BINARY, "--profile:"),
    profile_case("profile-nul-byte", b"tuning_nic: eth0\x00\n", "not valid YAML"),
    profile_case("profile-too-large", "#" * (1 << 20) + "\n", "larger than 1048576 bytes"),
    profile_case("profile-not-yaml", "tuning_nic: [eth0\n", "not valid YAML"),
    profile_case("profile-tab-indent", "tuning_nic:\n\t- eth0\n", "not valid YAML"),
    profile_case("profile-a-list", "- tuning_nic\n", "expected a mapping of variables"),
    profile_case("profile-a-string", "tuning_nic\n", "expected a mapping of variables"),
    profile_case("profile-alias-bomb", BOMB + f"\ntuning_nic: {NIC}\n", "more than 100000 values"),
    profile_case("profile-deep-nesting", "a: " + "[" * 5000 + "]" * 5000 + "\n", "--profile:"),
    profile_case(
        "profile-duplicate-key",
        f"tuning_nic: {NIC}\ntuning_isolated_cores: 2\ntuning_isolated_cores: 4\n",
        "'tuning_isolated_cores' appears twice (first on line 2)",
    ),
    profile_case(
        "profile-prefixed-typo",
        f"tuning_nic: {NIC}\ntuning_isolcpus: 2-5\n",
        "did you mean tuning_isolated_cpus?",
    ),
    profile_case(
        "profile-unprefixed-typo",
        f"tuning_nic: {NIC}\nisolated_cpus: 2-5\n",
        "isolated_cpus='2-5': unknown variable; did you mean tuning_isolated_cpus?",
    ),
    profile_case("profile-number-key", f"tuning_nic: {NIC}\n1: x\n", "not a name"),
    profile_case(
        "profile-huge-cpulist",
        f"tuning_nic: {NIC}\ntuning_isolated_cpus: 1-4000000000\n",
        "above the kernel's limit of 8192 CPUs",
    ),
    profile_case(
        "profile-huge-cpu-digits",
        f"tuning_nic: {NIC}\ntuning_isolated_cpus: {'9' * 5000}\n",
        "value has 5000 digits",
    ),
    profile_case(
        "profile-huge-cpu-digits-text",
        f"tuning_nic: {NIC}\ntuning_isolated_cpus: '{'9' * 5000}'\n",
        "above the kernel's limit of 8192 CPUs",
    ),
    profile_case(
        "profile-fullwidth-cpu",
        f"tuning_nic: {NIC}\ntuning_isolated_cpus: '\uff11'\n",
        "'\uff11' is neither a CPU number nor a range",
    ),
    profile_case(
        "profile-arabic-indic-count",
        f"tuning_nic: {NIC}\ntuning_isolated_cores: '٢'\n",
        "'٢' is not a whole number (valid: ASCII digits",
    ),
    profile_case(
        "profile-bool-count",
        f"tuning_nic: {NIC}\ntuning_isolated_cores: true\n",
        "True is a boolean, not a number",
    ),
    profile_case(
        "profile-bool-hugepages",
        f"tuning_nic: {NIC}\ntuning_hugepages_1g: {{0: true}}\n",
        "True is a boolean, not a number",
    ),
    profile_case(
        "profile-kernel-arg-command",
        f"tuning_nic: {NIC}\ntuning_kernel_args_extra: ['quiet=$(reboot)']\n",
        "'quiet=$(reboot)' is not one kernel argument",
    ),
    profile_case(
        "profile-kernel-arg-backquote",
        f"tuning_nic: {NIC}\ntuning_kernel_args_extra: ['a=`id`']\n",
        "is not one kernel argument",
    ),
    profile_case(
        "profile-kernel-arg-quote",
        f"tuning_nic: {NIC}\ntuning_kernel_args_extra: ['a=\"b\"']\n",
        "is not one kernel argument",
    ),
    profile_case(
        "profile-kernel-arg-newline",
        f'tuning_nic: {NIC}\ntuning_kernel_args_extra: ["a\\nGRUB_TIMEOUT=0"]\n',
        "is not one kernel argument",
    ),
    profile_case(
        "profile-kernel-arg-semicolon",
        f"tuning_nic: {NIC}\ntuning_kernel_args_extra: ['a;reboot']\n",
        "is not one kernel argument",
    ),
    profile_case(
        "profile-kernel-args-two-in-one",
        f"tuning_nic: {NIC}\ntuning_kernel_args_extra: ['quiet splash']\n",
        "one per list item",
    ),
    profile_case(
        "profile-kernel-arg-good",
        f"tuning_nic: {NIC}\ntuning_kernel_args_extra: ['console=ttyS0,115200n8', 'quiet']\n",
        "console=ttyS0,115200n8",
        0,
    ),
    profile_case(
        "profile-mask-sshd",
        f"tuning_nic: {NIC}\ntuning_masked_units: [apt-daily.timer, sshd.service]\n",
        "'sshd.service' is needed to keep the host reachable",
    ),
    profile_case(
        "profile-mask-networkd",
        f"tuning_nic: {NIC}\ntuning_masked_units: [systemd-networkd.service]\n",
        "masking it could lock you out",
    ),
    profile_case(
        "profile-mask-journald",
        f"tuning_nic: {NIC}\ntuning_masked_units: [systemd-journald.service]\n",
        "needed to keep the host reachable",
    ),
    profile_case(
        "profile-mask-not-a-unit",
        f"tuning_nic: {NIC}\ntuning_masked_units: ['../../etc/passwd']\n",
        "is not a systemd unit name",
    ),
    profile_case(
        "profile-trader-root",
        f"tuning_nic: {NIC}\ntrader_user: root\n",
        "the engine must not run as root",
    ),
    profile_case(
        "profile-trader-user-bad",
        f"tuning_nic: {NIC}\ntrader_user: 'a b'\n",
        "is not a user name",
    ),
    profile_case("profile-empty-nic", "tuning_nic: ''\n", "'' is not a Linux interface name"),
    profile_case(
        "profile-nic-slash", "tuning_nic: eth/0\n", "'eth/0' is not a Linux interface name"
    ),
    profile_case("profile-nic-dotdot", "tuning_nic: '..'\n", "is not a Linux interface name"),
    profile_case("profile-nic-space", "tuning_nic: 'eth 0'\n", "is not a Linux interface name"),
    profile_case("profile-nic-too-long", "tuning_nic: abcdefghijklmnop\n", "1-15 bytes, no '/'"),
    profile_case(
        "profile-ptp-interface-slash",
        f"tuning_nic: {NIC}\nptp_interface: 'a/b'\n",
        "ptp_interface='a/b'",
    ),
    profile_case(
        "profile-empty-governor",
        f"tuning_nic: {NIC}\ntuning_governor: ''\n",
        "tuning_governor='': empty",
    ),
    profile_case(
        "profile-empty-onload-version",
        f"tuning_nic: {NIC}\nonload_version: ''\n",
        "onload_version='': empty",
    ),
    profile_case(
        "profile-no-nic", "tuning_smt: isolate_both\n", "tuning_nic: not set; name the trading NIC"
    ),
    profile_case(
        "profile-min-freq-fullwidth",
        f"tuning_nic: {NIC}\ntuning_min_freq: '\uff13000000'\n",
        "is no frequency floor",
    ),
    profile_case(
        "profile-ptp-domain-range",
        f"tuning_nic: {NIC}\nptp_domain: 256\n",
        "ptp_domain=256",
    ),
    profile_case(
        "profile-long-value-message-short",
        f"tuning_nic: {NIC}\ntuning_governor: [{', '.join(['x'] * 5000)}]\n",
        "tuning_governor=['x', 'x', 'x', 'x', 'x', 'x', ...]",
    ),
    # --- -e values ---
    extra_case("e-good", [f"tuning_nic={NIC}", "tuning_isolated_cores=2"], "isolated CPUs", 0),
    extra_case("e-no-equals", ["tuning_nic"], "expected KEY=VALUE"),
    extra_case("e-no-key", ["=eth0"], "expected KEY=VALUE"),
    extra_case("e-yaml-scanner", nic_and("tuning_isolated_cores=@x"), "-e tuning_isolated_cores"),
    extra_case("e-yaml-parser", nic_and("tuning_kernel_args_extra=[a"), "not valid YAML"),
    extra_case("e-yaml-tab", nic_and("tuning_governor=\tx: y"), "not valid YAML"),
    extra_case("e-yaml-composer", nic_and("tuning_governor=*nothere"), "not valid YAML"),
    extra_case(
        "e-yaml-constructor", nic_and("tuning_governor=!!python/name:os.system"), "not valid YAML"
    ),
    extra_case("e-yaml-two-documents", nic_and("tuning_governor=a\n---\nb"), "not valid YAML"),
    extra_case("e-duplicate-key", nic_and("tuning_hugepages_1g={0: 1, 0: 2}"), "appears twice"),
    extra_case(
        "e-alias-bomb", nic_and(f"tuning_kernel_args_extra={BOMB_FLOW}"), "more than 100000 values"
    ),
    extra_case("e-huge-cpulist", nic_and("tuning_isolated_cpus=1-4000000000"), "8192 CPUs"),
    extra_case(
        "e-fullwidth-count", nic_and("tuning_isolated_cores=\uff11"), "is not a whole number"
    ),
    extra_case("e-bool-count", nic_and("tuning_isolated_cores=true"), "is a boolean, not a number"),
    extra_case(
        "e-unprefixed-typo", nic_and("isolated_cores=2"), "did you mean tuning_isolated_cores?"
    ),
    extra_case(
        "e-prefixed-typo", nic_and("tuning_isolcpus=2-5"), "did you mean tuning_isolated_cpus?"
    ),
    extra_case("e-empty-nic", ["tuning_nic="], "'' is not a Linux interface name"),
    extra_case("e-nic-slash", ["tuning_nic=a/b"], "is not a Linux interface name"),
    extra_case(
        "e-kernel-arg",
        nic_and("tuning_kernel_args_extra=['$(reboot)']"),
        "is not one kernel argument",
    ),
    extra_case("e-trader-root", nic_and("trader_user=root"), "must not run as root"),
    extra_case("e-mask-ssh", nic_and("tuning_masked_units=[ssh.service]"), "reachable"),
    extra_case("e-cpulist-backwards", nic_and("tuning_isolated_cpus=5-3"), "write 3-5"),
    # --- inventory files (-i) ---
    inventory_case("inventory-good", f"tuning_nic: {NIC}\n", "1 host(s) valid", 0),
    Case("inventory-missing", ("inventory", "check", "-i", "{dir}/nope"), 2, "does not exist"),
    inventory_case(
        "inventory-alias-bomb",
        BOMB + "\ntuning_kernel_args_extra: *l8\n",
        "more than 100000 values",
    ),
    inventory_case("inventory-huge-cpulist", "tuning_isolated_cpus: 0-99999999999\n", "8192 CPUs"),
    inventory_case("inventory-typo", f"tuning_nic: {NIC}\ntuning_isolcpus: 2\n", "did you mean"),
    inventory_case(
        "inventory-bool-count", f"tuning_nic: {NIC}\ntuning_isolated_cores: yes\n", "boolean"
    ),
    inventory_case("inventory-nic-space", "tuning_nic: 'eth 0'\n", "host h1: tuning_nic='eth 0'"),
    inventory_case(
        "inventory-trader-root", f"tuning_nic: {NIC}\ntrader_user: root\n", "must not run as root"
    ),
    inventory_case(
        "inventory-kernel-arg",
        f"tuning_nic: {NIC}\ntuning_kernel_args_extra: ['`id`']\n",
        "not one kernel argument",
    ),
    inventory_case("inventory-not-yaml", "tuning_nic: [eth0\n", "h1.yml"),
    # --- a waiver file (--waivers) ---
    waiver_case("waivers-missing", None, "waivers.yml does not exist"),
    waiver_case("waivers-not-utf8", b"waivers:\n  - control: TUN-\xff\n", "is not UTF-8 text"),
    waiver_case("waivers-not-yaml", "waivers: [\n", "not valid YAML"),
    waiver_case("waivers-alias-bomb", BOMB + "\nwaivers: *l8\n", "more than 100000 values"),
    waiver_case(
        "waivers-duplicate-key",
        "waivers:\n  - control: TUN-007\n    control: TUN-008\n"
        "    justification: no cpufreq in guests\n    expires: 2030-01-01\n",
        "'control' appears twice",
    ),
    waiver_case(
        "waivers-bad-control",
        "waivers:\n  - control: tun7\n    justification: no cpufreq in guests\n"
        "    expires: 2030-01-01\n",
        "'tun7' is not a control ID",
    ),
    waiver_case(
        "waivers-bad-date",
        "waivers:\n  - control: TUN-007\n    justification: no cpufreq in guests\n"
        "    expires: soon\n",
        "expires",
    ),
    # --- command-line options ---
    audit_argv("audit-timeout-nan", "--timeout", "nan", "argument --timeout: 'nan'"),
    audit_argv("audit-timeout-inf", "--timeout", "inf", "above 0 and at most 86400"),
    audit_argv("audit-timeout-negative", "--timeout", "-1", "argument --timeout: '-1'"),
    audit_argv("audit-timeout-zero", "--timeout", "0", "argument --timeout: '0'"),
    audit_argv("audit-timeout-fullwidth", "--timeout", "\uff12", "argument --timeout"),
    audit_argv("audit-ptp-window-zero", "--ptp-window", "0", "argument --ptp-window: '0'"),
    audit_argv("audit-ptp-window-negative", "--ptp-window", "-5", "argument --ptp-window"),
    audit_argv("audit-irq-window-nan", "--irq-window", "nan", "argument --irq-window: 'nan'"),
    audit_argv("audit-irq-window-zero", "--irq-window", "0", "argument --irq-window"),
    audit_argv("audit-workers-zero", "--workers", "0", "argument --workers: '0'"),
    probe_argv("probe-window-zero", "--window", "0", "argument --window: '0' is not a duration"),
    probe_argv("probe-window-huge", "--window", "9" * 400, "at most 86400"),
    probe_argv("probe-window-nan", "--window", "nan", "argument --window"),
    probe_argv("probe-interval-negative", "--interval", "-1s", "argument --interval"),
    probe_argv("probe-interval-zero-ms", "--interval", "0ms", "argument --interval: '0ms'"),
    probe_argv("probe-domain-range", "--domain", "256", "argument --domain: '256'"),
    probe_argv("probe-domain-fullwidth", "--domain", "\uff11", "argument --domain"),
    probe_argv("probe-max-offset-nan", "--max-offset-ns", "nan", "argument --max-offset-ns"),
    probe_argv("probe-max-offset-negative", "--max-offset-ns", "-100", "nanoseconds"),
    Case("plan-no-profile", ("plan",), 2, "no profile: give -l HOST"),
    Case("plan-profile-and-limit", ("plan", "--profile", "x.yml", "-l", "h1"), 2, "not both"),
]


def test_the_table_is_the_contract() -> None:
    ids = [case.id for case in CASES]
    assert len(ids) == len(set(ids)), "case ids must be unique"
    assert len(CASES) >= 60


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, tmp_path: Path) -> None:
    for name, content in case.files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    before = sorted(tmp_path.rglob("*"))
    argv = [arg.replace("{dir}", str(tmp_path)) for arg in case.argv]
    done = subprocess.run(
        [str(COLOTUNE), *argv],
        capture_output=True,
        text=True,
        errors="replace",
        cwd=tmp_path,
        env={**os.environ, "ANSIBLE_INVENTORY": str(tmp_path / "no-inventory")},
        check=False,
        timeout=60,
    )
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == case.code, (done.returncode, done.stdout[-2000:], done.stderr[-2000:])
    if case.code == 0:
        assert case.says in done.stdout, done.stdout
        return
    assert case.says in done.stderr, done.stderr
    assert len(done.stderr) < 4000, "the message stays readable"
    assert not done.stdout, "nothing is printed as a result"
    assert sorted(tmp_path.rglob("*")) == before, "nothing is written"
    for name in case.writes:
        assert not (tmp_path / name).exists()


def test_the_grub_dropin_quotes_what_it_carries(tmp_path: Path) -> None:
    """Defence in depth: were a hostile argument to reach the drop-in (the profile refuses
    it first), the shell that sources it as root, as update-grub does, runs nothing."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "colotune_grub", REPO / "roles/tuning/library/colotune_grub.py"
    )
    assert spec and spec.loader
    grub = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(grub)
    marker = tmp_path / "ran"
    hostile = ["isolcpus=2-3", f"a=$(touch {marker})", f"`touch {marker}`", "b';touch x;'", 'c"d']
    dropin = tmp_path / "colotune.cfg"
    dropin.write_text(grub.dropin_line(hostile))
    done = subprocess.run(
        [
            "sh",
            "-c",
            f'GRUB_CMDLINE_LINUX=console=ttyS0; . {dropin}; printf %s "$GRUB_CMDLINE_LINUX"',
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=True,
    )
    assert done.stdout == "console=ttyS0 " + " ".join(hostile)
    assert not marker.exists() and not (tmp_path / "x").exists()
