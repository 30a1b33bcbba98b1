"""The profile: every public input of every role, as pydantic models.

One model per role (`TuningProfile`, `PtpProfile`, `OnloadProfile`,
`TraderProfile`) plus the site facts (`SiteProfile`); `HostProfile` is all of
them, flat, as Ansible hands variables to a host. The roles'
`defaults/main.yml` and `meta/argument_specs.yml` are kept in step with these
models by a unit test (`tests/unit/test_role_specs.py`), defaults included.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
import zoneinfo
from collections.abc import Iterable, Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from colotune.errors import ColotuneError, InputError, shown
from colotune.host import cpulist

# Variables with these prefixes belong to colotune; anything else in the
# inventory (ansible_*, a user's own variables) is none of the profile's business.
PREFIXES = ("tuning_", "ptp_", "onload_", "trader_", "colotune_")


def _valid_cpulist(value: str) -> str:
    try:
        return cpulist.render(cpulist.parse(str(value)))
    except cpulist.CpuListError as exc:
        raise ValueError(str(exc)) from exc


def _number_as_text(value: Any) -> Any:
    """YAML reads `tuning_isolated_cpus: 3` as a number; a single CPU is a cpulist too."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


CpuList = Annotated[str, BeforeValidator(_number_as_text), AfterValidator(_valid_cpulist)]


def _whole_number(value: Any) -> Any:
    """A count: an int, or a string of ASCII digits (Jinja renders numbers as text).

    Refuses true/false (pydantic would take them as 1/0) and digits of other scripts
    (fullwidth, Arabic-Indic), which Python's int() would accept.
    """
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is a boolean, not a number (valid: a whole number, e.g. 2)")
    if isinstance(value, str):
        if not re.fullmatch(r"\s*[+-]?[0-9]+\s*", value) or len(value) > 20:
            raise ValueError(f"{value!r} is not a whole number (valid: ASCII digits 0-9, e.g. 2)")
        return int(value)
    return value


Count = Annotated[int, BeforeValidator(_whole_number)]


def _interface_name(value: str) -> str:
    """A Linux interface name as the kernel's dev_valid_name() accepts it."""
    if (
        not value
        or len(value.encode()) > 15
        or value in (".", "..")
        or any(c in "/:" or c.isspace() for c in value)
    ):
        raise ValueError(
            f"{value!r} is not a Linux interface name (valid: 1-15 bytes, no '/', ':' or "
            "whitespace, not '.' or '..', e.g. ens1f0np0)"
        )
    return value


IfName = Annotated[str, AfterValidator(_interface_name)]


def _not_empty(value: str) -> str:
    if not value.strip():
        raise ValueError(
            "empty; an empty value would leave this unmanaged without saying so (valid: a "
            "value, or leave the variable out to use its default)"
        )
    return value


Text = Annotated[str, AfterValidator(_not_empty)]

# One kernel argument: key or key=value, as /proc/cmdline and GRUB carry it. The value
# keeps to characters that mean nothing to the shell that sources the GRUB drop-in.
_KERNEL_ARG = re.compile(r"[A-Za-z0-9_.-]+(=[A-Za-z0-9_.,:=+/@%-]*)?")

# Units a host needs to stay reachable and manageable: masking one locks the operator out.
ESSENTIAL_UNITS = frozenset(
    {
        "ssh.service",
        "sshd.service",
        "ssh.socket",
        "systemd-networkd.service",
        "systemd-networkd.socket",
        "systemd-resolved.service",
        "networking.service",
        "NetworkManager.service",
        "systemd-journald.service",
        "systemd-journald.socket",
        "dbus.service",
        "dbus.socket",
        "systemd-logind.service",
    }
)
_MODEL = ConfigDict(extra="forbid", frozen=True)


class TuningProfile(BaseModel):
    """Inputs of roles/tuning: where the trading cores are and how the host is tuned."""

    model_config = _MODEL

    tuning_nic: IfName | None = Field(
        None,
        description="The trading NIC (interface name). Isolated CPUs, IRQ CPUs and hugepages "
        "are placed on its NUMA node. Set this or tuning_numa_node.",
    )
    tuning_numa_node: Count | None = Field(
        None,
        ge=0,
        description="The trading NUMA node, for a host planned before its NIC is known or a NIC "
        "whose firmware reports no node (-1). Must agree with the NIC's node when both are known.",
    )
    tuning_isolated_cpus: CpuList | None = Field(
        None,
        description="Pin the isolated CPUs (kernel cpulist, whole cores). Default: derived "
        "from the topology.",
    )
    tuning_housekeeping_cpus: CpuList | None = Field(
        None,
        description="Pin the housekeeping CPUs (kernel cpulist). Default: every online CPU "
        "that is not isolated.",
    )
    tuning_irq_cpus: CpuList | None = Field(
        None,
        description="Pin the CPUs that take device interrupts (kernel cpulist, housekeeping "
        "only). Default: the housekeeping CPUs on the NIC's node.",
    )
    tuning_isolated_cores: Count | None = Field(
        None,
        ge=1,
        description="How many whole cores to isolate on the trading node. Default: every core "
        "of that node except its housekeeping cores.",
    )
    tuning_housekeeping_cores_per_node: Count = Field(
        1,
        ge=1,
        description="Whole cores kept for housekeeping on each NUMA node (CPU 0's core is "
        "always one of them).",
    )
    tuning_smt: Literal["isolate_both", "idle_sibling"] = Field(
        "isolate_both",
        description="isolate_both: every SMT thread of an isolated core is usable. "
        "idle_sibling: only the first thread of each isolated core is used, its siblings stay "
        "isolated and idle.",
    )
    tuning_hugepages_1g: Count | dict[Count, Count] = Field(
        0,
        description="1 GiB hugepages: a count on the trading node, or a mapping "
        "NUMA node -> count.",
    )
    tuning_hugepages_min_free_mb: Count = Field(
        1024,
        ge=0,
        description="Memory (MiB) every node must keep outside 1 GiB hugepages; a count that "
        "would leave less is refused.",
    )
    tuning_hugepages_group: str | None = Field(
        None,
        pattern=r"^[a-z_][a-z0-9_-]{0,31}$",
        description="Group that owns the 1 GiB hugetlbfs mount /dev/hugepages1G (mode 1770: its "
        "members create and map page files there, nobody else). Default: the trader user's "
        "group (trader_user); roles/trader puts its user in this group.",
    )
    tuning_cmdline: Literal["manage", "check"] = Field(
        "manage",
        description="manage: the role writes the plan's kernel arguments through "
        "/etc/default/grub.d and update-grub (Debian, Ubuntu). check: the command line is left "
        "to you (grubby on RHEL-family hosts, which colotune does not drive); the role only says "
        "which plan arguments the running kernel lacks, and TUN-001 audits them.",
    )
    tuning_idle: Literal["default", "c1", "poll"] = Field(
        "c1",
        description="Deepest idle state: default (kernel's choice), c1 "
        "(processor.max_cstate=1 intel_idle.max_cstate=0) or poll (idle=poll).",
    )
    tuning_governor: Text = Field(
        "performance", description="CPU frequency governor where the host has cpufreq."
    )
    tuning_min_freq: Literal["unchanged", "max"] | int = Field(
        "unchanged",
        description="Floor of every CPU's frequency (cpufreq scaling_min_freq): unchanged, "
        "max (pinned to the CPU's current scaling_max_freq, so it never clocks down) or a "
        "frequency in kHz the CPU allows (cpuinfo_min_freq up to its scaling_max_freq; "
        "another value is refused on the host before anything changes).",
    )
    tuning_turbo: Literal["unchanged", "on", "off"] = Field(
        "unchanged", description="Turbo/boost: leave it, force it on, or force it off."
    )
    tuning_mitigations_off: bool = Field(
        False,
        description="Add mitigations=off to the kernel command line. Weakens security; only "
        "when asked for explicitly.",
    )
    tuning_kernel_args_extra: list[str] = Field(
        default_factory=list,
        description="More kernel arguments, appended after the plan's own (must not repeat "
        "one of them).",
    )
    tuning_nic_coalescing_off: bool = Field(
        True,
        description="Turn interrupt coalescing off on the trading NIC (adaptive-rx/tx off, "
        "rx-usecs 0), re-applied whenever the link comes up.",
    )
    tuning_busy_poll_us: Count = Field(
        0,
        ge=0,
        description="net.core.busy_poll and busy_read in microseconds (judged by TUN-029); 0 "
        "leaves the kernel's default.",
    )
    tuning_masked_units: list[str] = Field(
        default_factory=lambda: [
            "fwupd-refresh.timer",
            "apt-daily.timer",
            "apt-daily-upgrade.timer",
            "man-db.timer",
        ],
        description="systemd units that wake the host at random (firmware refresh, package "
        "timers) and are stopped and masked.",
    )
    tuning_irqbalance: Literal["disabled", "banned"] = Field(
        "disabled",
        description="disabled: stop and mask irqbalance. banned: keep it with "
        "IRQBALANCE_BANNED_CPULIST set to the isolated CPUs.",
    )
    tuning_reboot_ok: bool = Field(
        False,
        description="May the role reboot the host? If false it records that a reboot is "
        "pending and exports tuning_reboot_required: true.",
    )

    @field_validator("tuning_hugepages_1g")
    @classmethod
    def _counts_not_negative(cls, value: int | dict[int, int]) -> int | dict[int, int]:
        counts = value.values() if isinstance(value, dict) else [value]
        if any(c < 0 for c in counts):
            raise ValueError("hugepage counts must be 0 or more")
        if isinstance(value, dict) and any(node < 0 for node in value):
            raise ValueError("NUMA node numbers start at 0")
        return value

    @field_validator("tuning_min_freq", mode="before")
    @classmethod
    def _min_freq(cls, value: Any) -> str | int:
        if value in ("unchanged", "max"):
            return str(value)
        text = str(value).strip()
        if not isinstance(value, bool) and re.fullmatch(r"[0-9]{1,12}", text) and int(text) > 0:
            return int(text)
        raise ValueError(
            f"{value!r} is no frequency floor (valid: unchanged, max, or kHz above 0 such as "
            "3000000 for 3 GHz)"
        )

    @field_validator("tuning_kernel_args_extra")
    @classmethod
    def _args_are_words(cls, value: list[str]) -> list[str]:
        for arg in value:
            if not _KERNEL_ARG.fullmatch(arg):
                raise ValueError(
                    f"{shown(arg)} is not one kernel argument (valid: key or key=value, one per "
                    "list item; key of letters, digits, _ . -; value of letters, digits and "
                    "_ . , : = + / @ % -; no spaces, quotes, $, `, ; or newlines)"
                )
        return value

    @field_validator("tuning_masked_units")
    @classmethod
    def _units_keep_host_reachable(cls, value: list[str]) -> list[str]:
        for unit in value:
            if not re.fullmatch(r"[A-Za-z0-9:_.@\\-]+\.[a-z]+", unit):
                raise ValueError(
                    f"{shown(unit)} is not a systemd unit name (valid: e.g. apt-daily.timer)"
                )
            if unit in ESSENTIAL_UNITS:
                raise ValueError(
                    f"{unit!r} is needed to keep the host reachable and manageable (SSH, "
                    "network, journal, D-Bus); masking it could lock you out (valid: units that "
                    "only wake the host, e.g. apt-daily.timer, fwupd-refresh.timer)"
                )
        return value


class PtpProfile(BaseModel):
    """Inputs of roles/ptp: linuxptp on the plan's interface."""

    model_config = _MODEL

    ptp_enabled: bool = Field(True, description="Run ptp4l and phc2sys on this host.")
    ptp_interface: IfName | None = Field(
        None, description="Interface ptp4l listens on. Default: the plan's trading NIC."
    )
    ptp_domain: Count = Field(0, ge=0, le=255, description="PTP domain number.")
    ptp_transport: Literal["UDPv4", "L2"] = Field(
        "UDPv4", description="Network transport: UDPv4 or L2 (raw Ethernet)."
    )
    ptp_delay_mechanism: Literal["E2E", "P2P"] = Field("E2E", description="Delay mechanism.")
    ptp_role: Literal["client", "grandmaster"] = Field(
        "client", description="client (clientOnly) or grandmaster."
    )
    ptp_timestamping: Literal["hardware", "software"] = Field(
        "hardware",
        description="hardware (refused where the NIC cannot) or software, only when set "
        "explicitly.",
    )
    ptp_tx_timestamp_timeout_ms: Count | None = Field(
        None,
        ge=1,
        description="ptp4l tx_timestamp_timeout in ms. Default: per driver (igb 10, ice 50, "
        "otherwise 10).",
    )
    ptp_max_offset_ns: Count | None = Field(
        None,
        ge=1,
        description="Largest acceptable offset from the master. Default: 100 with hardware "
        "timestamping, 10000 with software.",
    )
    ptp_summary_interval: Count = Field(
        0, description="ptp4l summary_interval (log2 seconds) for offset statistics in the log."
    )
    ptp_logging_level: Count = Field(6, ge=0, le=7, description="ptp4l/phc2sys logging level.")

    @property
    def max_offset_ns(self) -> int:
        """The largest offset from the master the PTP controls and the probe accept."""
        if self.ptp_max_offset_ns is not None:
            return self.ptp_max_offset_ns
        return 100 if self.ptp_timestamping == "hardware" else 10_000


class OnloadProfile(BaseModel):
    """Inputs of roles/onload: OpenOnload from a package the user supplies."""

    model_config = _MODEL

    onload_enabled: bool = Field(False, description="Install and load OpenOnload.")
    onload_version: Text | None = Field(
        None, description="The pinned OpenOnload version; required when onload_enabled."
    )
    onload_source: Text | None = Field(
        None,
        description="Path on the controller to the OpenOnload package or tarball; required "
        "when onload_enabled.",
    )
    onload_profile: Text = Field("latency", description="Onload profile the engine runs with.")


class TraderProfile(BaseModel):
    """Inputs of roles/trader and the launcher: the engine and where its threads run."""

    model_config = _MODEL

    trader_enabled: bool = Field(True, description="Deploy the trading engine on this host.")
    trader_threads: list[str] = Field(
        default_factory=lambda: ["t2t-hot"],
        description="Latency-critical engine threads (by thread name); each gets an isolated "
        "CPU of its own. Other threads stay on housekeeping CPUs.",
    )
    trader_thread_cpus: dict[str, Count] | None = Field(
        None,
        description="Pin threads to isolated CPUs by hand (thread name -> CPU). Default: in "
        "order, onto the plan's isolated CPUs.",
    )
    trader_sched_priority: Count | None = Field(
        None, ge=1, le=99, description="SCHED_FIFO priority for the engine; unset: SCHED_OTHER."
    )
    trader_user: str = Field("trader", description="Unprivileged user the engine runs as.")
    trader_engine_src: Text | None = Field(
        None,
        description="Path on the controller to the engine binary (e.g. engine/build/t2t); "
        "required when trader_enabled.",
    )
    trader_engine_sha256: str | None = Field(
        None,
        description="SHA-256 the engine binary must have (64 hex digits); required when "
        "trader_enabled. A binary that differs is refused before anything changes.",
    )
    trader_engine_args: list[str] = Field(
        default_factory=list,
        description="Arguments of the engine (feed, gateway, strategy, risk). The launcher adds "
        "the thread pinning and statistics options itself.",
    )
    trader_engine_pin_option: str | None = Field(
        "--cpu",
        description="Option with which the engine pins a named thread at creation (given "
        "NAME=CPU, once per planned thread); null for an engine without one. Either way the "
        "launcher checks and fixes every thread's affinity after the start.",
    )
    trader_engine_stats_option: str | None = Field(
        "--stats",
        description="Option with which the engine writes its statistics JSON to a file (on "
        "exit and on SIGUSR1); null for an engine without one.",
    )
    trader_gateway_password: str | None = Field(
        None,
        description="The order gateway's login password (keep it in Ansible Vault). Written "
        "to /etc/colotune/trader-gateway-password (0600, root) and handed to the engine as the "
        "systemd credential gateway-password, whose path the engine gets with "
        "trader_engine_password_option: never in its command line or in trader.json.",
    )
    trader_engine_password_option: str | None = Field(
        "--password-file",
        description="Option with which the engine reads its gateway password from a file; "
        "null for an engine without one (trader_gateway_password is then refused).",
    )
    trader_memlock_mb: Count | None = Field(
        None,
        ge=1,
        description="Locked-memory limit (RLIMIT_MEMLOCK) of the engine in MiB; unset: "
        "unlimited.",
    )
    trader_numa_membind: bool = Field(
        True, description="Bind the engine's memory to the plan's NUMA node (the NIC's node)."
    )
    trader_onload: bool = Field(
        False,
        description="Run the engine under OpenOnload (onload --profile=<onload_profile>); "
        "needs roles/onload (onload_enabled).",
    )
    trader_onload_env: dict[str, str] = Field(
        default_factory=dict,
        description="EF_* variables for Onload, set in the engine's environment (with or "
        "without trader_onload).",
    )
    trader_net_raw: bool = Field(
        False,
        description="Grant the engine CAP_NET_RAW (raw sockets, some kernel-bypass stacks). "
        "It always gets CAP_SYS_NICE and CAP_IPC_LOCK and nothing else.",
    )
    trader_hugepages_free: Count | None = Field(
        None,
        ge=0,
        description="1 GiB pages that must be free on the plan's NUMA node before the engine "
        "starts. Unset: 1 when the plan reserves pages on that node, otherwise none.",
    )
    trader_thread_wait_s: Count = Field(
        30,
        ge=1,
        description="Seconds the launcher waits for the engine's planned threads to appear "
        "before it stops the engine and fails.",
    )
    trader_force_preflight: bool = Field(
        False,
        description="Start the engine even when the launcher's preflight fails (lab hosts); "
        "the failures are still logged.",
    )
    trader_state: Literal["started", "stopped"] = Field(
        "started",
        description="Run the engine's systemd unit (started) or only deploy it (stopped). "
        "The role never restarts a running engine inside market hours unless forced.",
    )

    @field_validator("trader_user")
    @classmethod
    def _unprivileged(cls, value: str) -> str:
        if not re.fullmatch(r"[a-z_][a-z0-9_-]{0,31}", value):
            raise ValueError(
                f"{shown(value)} is not a user name (valid: 1-32 of lower-case letters, digits, "
                "_ and -, starting with a letter or _, e.g. trader)"
            )
        if value == "root":
            raise ValueError(
                "the engine must not run as root: a fault in it would own the host (valid: an "
                "unprivileged user, e.g. trader; the launcher grants only the capabilities it "
                "needs)"
            )
        return value

    @field_validator("trader_engine_sha256")
    @classmethod
    def _sha256(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[0-9a-fA-F]{64}", value):
            raise ValueError(
                f"{value!r} is not a SHA-256 (valid: 64 hex digits, as `sha256sum` prints)"
            )
        return None if value is None else value.lower()

    @field_validator("trader_onload_env")
    @classmethod
    def _ef_variables(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if not re.fullmatch(r"EF_[A-Z0-9_]+", name):
                raise ValueError(
                    f"{name!r} is not an Onload variable (valid: EF_ followed by capitals, "
                    "digits and _, e.g. EF_POLL_USEC)"
                )
        return value

    @field_validator("trader_engine_args")
    @classmethod
    def _no_password_in_argv(cls, value: list[str]) -> list[str]:
        for arg in value:
            if arg == "--password" or arg.startswith("--password="):
                raise ValueError(
                    "--password would put the gateway password in the engine's command line, "
                    "which every user of the host can read (valid: set trader_gateway_password; "
                    "the engine reads it from a file)"
                )
        return value

    @field_validator(
        "trader_engine_pin_option", "trader_engine_stats_option", "trader_engine_password_option"
    )
    @classmethod
    def _option(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"--?[\w-]+", value):
            raise ValueError(f"{value!r} is not a command-line option (valid: e.g. --cpu)")
        return value

    @field_validator("trader_engine_password_option")
    @classmethod
    def _password_reaches_the_engine(cls, value: str | None, info: ValidationInfo) -> str | None:
        # A field validator, not a model one: its error shows this value, never the password.
        if value is None and info.data.get("trader_gateway_password") is not None:
            raise ValueError(
                "null, but trader_gateway_password is set: the engine would never get it (valid: "
                "the engine's option that reads the password from a file, e.g. --password-file)"
            )
        return value

    @field_validator("trader_threads")
    @classmethod
    def _thread_names(cls, value: list[str]) -> list[str]:
        seen: set[str] = set()
        for name in value:
            if not re.fullmatch(r"[\w.-]{1,15}", name):
                raise ValueError(
                    f"thread name {name!r} must be 1-15 characters of letters, digits, _ . - "
                    "(the kernel keeps 15 characters of a thread name)"
                )
            if name in seen:
                raise ValueError(f"thread name {name!r} appears twice")
            seen.add(name)
        return value


Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_DAYS: tuple[Day, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_WEEKDAYS: tuple[Day, ...] = _DAYS[:5]


class TradingHours(BaseModel):
    """Daily trading session in the venue's time zone, "HH:MM" to "HH:MM"."""

    model_config = _MODEL

    start: str = "04:00"
    end: str = "20:00"

    @field_validator("start", "end")
    @classmethod
    def _clock(cls, value: str) -> str:
        if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", value):
            raise ValueError(f"{value!r} is not a time of day (valid: HH:MM, e.g. '09:30')")
        return value

    @model_validator(mode="after")
    def _ordered(self) -> TradingHours:
        if self.end == self.start:
            raise ValueError(
                f"start and end are both {self.start}; valid: an end after the start "
                "(09:30-16:00), or before it for a session that closes the next day (18:00-17:00)"
            )
        return self


def day_name(day: dt.date) -> Day:
    """The colotune_trading_days name of a date ("mon" ... "sun")."""
    return _DAYS[day.weekday()]


Environment = Literal["production", "lab", "test"]


class SiteProfile(BaseModel):
    """Site facts every role and the market-hours guard read."""

    model_config = _MODEL

    colotune_venue: str = Field("", description="Venue or data centre name, e.g. ny4.")
    colotune_timezone: str = Field(
        "America/New_York", description="IANA time zone of the venue's trading hours."
    )
    colotune_calendar: str | None = Field(
        None,
        description="The venue's exchange_calendars code (XNYS, XNAS, XLON, CMES, ...): its "
        "sessions, holidays and early closes set market hours, and colotune_trading_hours and "
        "colotune_trading_days are not read. Unset: colotune_trading_hours on "
        "colotune_trading_days.",
    )
    colotune_trading_hours: TradingHours = Field(
        default_factory=TradingHours,
        description="Daily trading session, venue time; an end before the start closes the "
        "next day (18:00-17:00).",
    )
    colotune_trading_days: list[Day] = Field(
        default_factory=lambda: list(_WEEKDAYS),
        description="Days a trading session opens on.",
    )
    colotune_guard_lead_minutes: int = Field(
        0,
        ge=0,
        le=1440,
        description="Minutes before each open that the market-hours guard already counts as "
        "market hours.",
    )
    colotune_environment: Environment = Field(
        "production",
        description="What the hosts are: production, lab or test. colotune_now is refused on "
        "production.",
    )
    colotune_holidays: list[dt.date] = Field(
        default_factory=list, description="Dates without a session (YYYY-MM-DD)."
    )
    colotune_force_in_market_hours: bool = Field(
        False,
        description="Apply disruptive and reboot-class changes inside trading hours anyway.",
    )

    colotune_reboot_timeout: int = Field(
        900,
        ge=60,
        description="Seconds playbooks/reboot.yml waits for a host to come back over SSH.",
    )
    colotune_now: dt.datetime | None = Field(
        None,
        description="Test override: pin the clock the market-hours guard reads (ISO 8601 with "
        "a UTC offset). Refused where colotune_environment is production; every play that "
        "uses it warns. Unset: the controller's clock.",
    )

    @field_validator("colotune_calendar")
    @classmethod
    def _calendar(cls, value: str | None) -> str | None:
        if value is None:
            return value
        import exchange_calendars

        names = exchange_calendars.get_calendar_names(include_aliases=True)
        if value not in names:
            close = difflib.get_close_matches(value.upper(), names, n=3, cutoff=0.5)
            raise ValueError(
                f"{value!r} is not an exchange_calendars venue code (valid: e.g. XNYS, XNAS, "
                f"XLON, CMES{'; closest: ' + ', '.join(close) if close else ''})"
            )
        return value

    @model_validator(mode="after")
    def _clock_override(self) -> SiteProfile:
        if self.colotune_now is not None and self.colotune_environment == "production":
            raise ValueError(
                f"colotune_now={self.colotune_now.isoformat()!r} pins the market-hours guard's "
                "clock, a test override refused where colotune_environment is 'production' (the "
                "default); valid: unset colotune_now, or colotune_environment: lab or test in "
                "the lab or test hosts' group_vars"
            )
        return self

    @field_validator("colotune_now")
    @classmethod
    def _aware(cls, value: dt.datetime | None) -> dt.datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("give a UTC offset, e.g. 2026-11-23T09:45:00-05:00")
        return value

    @field_validator("colotune_timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(
                f"{value!r} is not an IANA time zone (valid: e.g. 'America/New_York', "
                "'Europe/London', 'Asia/Tokyo')"
            ) from exc
        return value


class HostProfile(TuningProfile, PtpProfile, OnloadProfile, TraderProfile, SiteProfile):
    """Everything colotune reads from one host's inventory variables."""

    model_config = _MODEL

    @model_validator(mode="after")
    def _cross_field(self) -> HostProfile:
        if self.tuning_nic is None and self.tuning_numa_node is None:
            raise ValueError(
                "tuning_nic: not set; name the trading NIC (e.g. tuning_nic: ens1f0), or set "
                "tuning_numa_node for a host planned before its NIC is known"
            )
        iso = cpulist.parse(self.tuning_isolated_cpus or "")
        hk = cpulist.parse(self.tuning_housekeeping_cpus or "")
        irq = cpulist.parse(self.tuning_irq_cpus or "")
        if iso & hk:
            raise ValueError(
                f"tuning_isolated_cpus={self.tuning_isolated_cpus!r} and "
                f"tuning_housekeeping_cpus={self.tuning_housekeeping_cpus!r} overlap on "
                f"{cpulist.render(iso & hk)}; a CPU is either isolated or housekeeping"
            )
        if iso & irq:
            raise ValueError(
                f"tuning_irq_cpus={self.tuning_irq_cpus!r} includes isolated CPUs "
                f"{cpulist.render(iso & irq)}; interrupts belong on housekeeping CPUs"
            )
        if self.onload_enabled and not (self.onload_version and self.onload_source):
            raise ValueError(
                "onload_enabled is true but onload_version and onload_source are not both set; "
                "pin the version and give the package path"
            )
        if self.trader_thread_cpus is not None:
            unknown = sorted(set(self.trader_thread_cpus) - set(self.trader_threads))
            if unknown:
                raise ValueError(
                    f"trader_thread_cpus names {', '.join(unknown)}, which "
                    f"trader_threads={self.trader_threads} does not list"
                )
        return self

    @property
    def ptp_nic(self) -> str | None:
        """The interface ptp4l runs on: ptp_interface, else the trading NIC (tuning_nic).
        The plan carries it (Plan.ptp); the audit reads it before a plan exists."""
        return self.ptp_interface or self.tuning_nic


# The per-role models, by role name: what the role specs are checked against.
ROLE_MODELS: dict[str, type[BaseModel]] = {
    "tuning": TuningProfile,
    "ptp": PtpProfile,
    "onload": OnloadProfile,
    "trader": TraderProfile,
}
KNOWN_VARIABLES = frozenset(HostProfile.model_fields)


class ProfileError(ColotuneError):
    """One or more variables of a host's profile are invalid; one line per problem."""

    def __init__(self, errors: list[InputError]) -> None:
        self.errors = errors
        super().__init__("\n  ".join(["invalid profile:", *(str(e) for e in errors)]))

    @classmethod
    def from_lines(cls, lines: list[str]) -> ProfileError:
        """One error for problems gathered across several hosts."""
        return cls([CrossFieldError(None, line) for line in lines])


# Facts the roles hand back (their READMEs' "Variables exported"): outputs, not inputs.
EXPORTED = frozenset(
    {
        "colotune_plan",
        "colotune_guard",
        "colotune_tuning",
        "colotune_host",
        "tuning_reboot_required",
        "ptp_setup",
    }
)


def profile_variables(variables: Mapping[str, Any]) -> dict[str, Any]:
    """The variables of a host that belong to colotune (by prefix), exported facts aside."""
    return {
        k: v
        for k, v in variables.items()
        if isinstance(k, str) and k.startswith(PREFIXES) and k not in EXPORTED
    }


def build(
    variables: Mapping[str, Any], *, host: str | None = None, strict_names: Iterable[Any] = ()
) -> HostProfile:
    """Validate a host's colotune variables into a HostProfile, or raise ProfileError.

    Unknown colotune-prefixed names are reported with the closest known name,
    so that `tuning_isolcpus` says "did you mean tuning_isolated_cpus". Names in
    `strict_names` (those of a profile file or -e, which hold nothing but colotune
    variables) are reported when unknown even without a colotune prefix.
    """
    mine = profile_variables(variables)
    mine.update((k, variables[k]) for k in strict_names if k in variables and k not in EXPORTED)
    errors: list[InputError] = []
    for name in sorted(set(mine) - KNOWN_VARIABLES, key=str):
        if not isinstance(name, str):
            errors.append(
                InputError(host=host, variable=shown(name), value=mine[name], problem="not a name")
            )
            continue
        close = difflib.get_close_matches(name, KNOWN_VARIABLES, n=1, cutoff=0.6)
        if not close:  # try the meaning: tuning_isolcpus ~ tuning_isolated_cpus
            prefix = name.split("_", 1)[0] + "_"
            same_role = [k for k in KNOWN_VARIABLES if k.startswith(prefix)]
            close = difflib.get_close_matches(name, same_role, n=1, cutoff=0.4)
        hint = f"did you mean {close[0]}?" if close else "see docs/profile.md for the variables"
        errors.append(
            InputError(
                host=host, variable=name, value=mine[name], problem=f"unknown variable; {hint}"
            )
        )
    if errors:
        raise ProfileError(errors)
    try:
        return HostProfile.model_validate(mine)
    except ValidationError as exc:
        for err in exc.errors():
            location = [str(p) for p in err["loc"]]
            variable = location[0] if location else "profile"
            value: Any = mine.get(variable, "<unset>")
            problem = err["msg"].removeprefix("Value error, ")
            # Drop pydantic's names of union members ("function-before[...]", "dict[...]").
            inner = [p for p in location[1:] if not any(c in p for c in "[(")]
            if inner:
                problem = f"at {'.'.join(inner)}: {problem}"
            if not location:  # a cross-field rule names its own variables
                errors.append(CrossFieldError(host, problem))
                continue
            errors.append(InputError(host=host, variable=variable, value=value, problem=problem))
        raise ProfileError(errors) from None


class CrossFieldError(InputError):
    """A cross-field problem whose message already names the variables."""

    def __init__(self, host: str | None, problem: str) -> None:
        self.host = host
        self.variable = ""
        self.value = None
        self.problem = problem
        Exception.__init__(self, f"host {host}: {problem}" if host else problem)
