"""CPU frequency (governor, EPP, turbo, floor) and idle states (C-states)."""

from __future__ import annotations

from colotune.checks.base import Context, control, cpus, not_applicable
from colotune.checks.tuning.common import CPU, REBOOT_FIX, Outcome

# Deepest idle exit latency (us) allowed with tuning_idle: c1.
C1_MAX_LATENCY_US = 2


def _no_cpufreq(ctx: Context) -> str:
    if ctx.snap.virtualization:
        return "guest has no cpufreq"
    return "host has no cpufreq driver loaded"


@control(
    "TUN-007",
    "CPU frequency governor as profiled on every CPU",
    guards="frequency transitions and ramp-up latency",
    risk="live",
    role_tag="tuning_cpu",
)
def governor(ctx: Context) -> Outcome:
    governors = ctx.snap.per_cpu("scaling_governor")
    if not governors:
        return not_applicable(_no_cpufreq(ctx))
    wanted = ctx.profile.tuning_governor
    wrong = {c: g for c, g in governors.items() if g != wanted}
    if not wrong:
        return ("pass", wanted, f"{wanted} on CPUs {cpus(governors)}", "Governor as profiled.")
    actual = ", ".join(f"CPU {cpus([c])}: {g}" for c, g in sorted(wrong.items()))
    return (
        "fail",
        wanted,
        actual,
        f"Set the governor back to {wanted} (tuning role, tag tuning_cpu).",
    )


@control(
    "TUN-008",
    "Energy-performance preference is performance",
    guards="hardware P-state (HWP) down-clocking between bursts",
    risk="live",
    role_tag="tuning_cpu",
)
def energy_preference(ctx: Context) -> Outcome:
    prefs = ctx.snap.per_cpu("energy_performance_preference")
    if not prefs:
        if not ctx.snap.per_cpu("scaling_governor"):
            return not_applicable(_no_cpufreq(ctx))
        return not_applicable("the cpufreq driver has no energy_performance_preference")
    wrong = {c: p for c, p in prefs.items() if p != "performance"}
    if not wrong:
        return ("pass", "performance", "performance", "EPP is performance everywhere.")
    actual = ", ".join(f"CPU {c}: {p}" for c, p in sorted(wrong.items()))
    return ("fail", "performance", actual, "Set EPP to performance (tuning role, tag tuning_cpu).")


@control(
    "TUN-009",
    "Turbo/boost as profiled",
    guards="frequency changes when turbo headroom comes and goes",
    risk="live",
    role_tag="tuning_cpu",
)
def turbo(ctx: Context) -> Outcome:
    wanted = ctx.profile.tuning_turbo
    if wanted == "unchanged":
        return not_applicable("tuning_turbo is unchanged, turbo is left as the host has it")
    no_turbo = ctx.snap.value(f"{CPU}/intel_pstate/no_turbo")
    boost = ctx.snap.value(f"{CPU}/cpufreq/boost")
    if no_turbo is not None:
        actual = "off" if no_turbo == "1" else "on"
    elif boost is not None:
        actual = "on" if boost == "1" else "off"
    else:
        return not_applicable(_no_cpufreq(ctx) if ctx.snap.virtualization else "no turbo control")
    if actual == wanted:
        return ("pass", wanted, actual, "Turbo as profiled.")
    return ("fail", wanted, actual, f"Turn turbo {wanted} (tuning role, tag tuning_cpu).")


@control(
    "TUN-027",
    "CPU frequency floor (scaling_min_freq) as profiled",
    guards="clocking down between bursts and the ramp back up when a burst arrives",
    risk="live",
    role_tag="tuning_cpu",
)
def min_frequency(ctx: Context) -> Outcome:
    wanted = ctx.profile.tuning_min_freq
    if wanted == "unchanged":
        return not_applicable("tuning_min_freq is unchanged, the floor is left as the host has it")
    floors = ctx.snap.per_cpu("scaling_min_freq")
    if not floors:
        return not_applicable(_no_cpufreq(ctx))
    ceilings = ctx.snap.per_cpu("scaling_max_freq")
    expected = "scaling_max_freq (max)" if wanted == "max" else f"{wanted} kHz"
    wrong: dict[int, str] = {}
    for cpu, floor in floors.items():
        target = ceilings.get(cpu) if wanted == "max" else str(wanted)
        if floor != target:
            wrong[cpu] = f"{floor} kHz" + (f" (max {target} kHz)" if wanted == "max" else "")
    if not wrong:
        return ("pass", expected, f"{expected} on CPUs {cpus(floors)}", "Frequency floor set.")
    actual = ", ".join(f"CPU {c}: {text}" for c, text in sorted(wrong.items()))
    return (
        "fail",
        expected,
        actual,
        f"Pin the frequency floor back to {expected} (tuning role, tag tuning_cpu).",
    )


@control(
    "TUN-010",
    "Deep C-states held off on isolated CPUs",
    guards="idle-state exit latency (tens to hundreds of us from deep C-states)",
    risk="reboot",
    role_tag="tuning_cmdline",
    needs=("reboot", "C-state limits are kernel arguments"),
)
def idle_states(ctx: Context) -> Outcome:
    wanted = ctx.profile.tuning_idle
    if wanted == "default":
        return not_applicable("tuning_idle is default, the kernel picks idle states")
    states = {cpu: ctx.snap.idle_states(cpu) for cpu in sorted(ctx.isolated)}
    if not any(states.values()):
        if wanted == "poll":
            return ("pass", "poll only", "no cpuidle states", "CPUs poll when idle.")
        return not_applicable("the host exposes no cpuidle states")
    deep: list[str] = []
    for cpu, found in states.items():
        for state in found:
            if state["disabled"]:
                continue
            too_deep = (
                state["name"] != "POLL"
                if wanted == "poll"
                else (state["latency"] or 0) > C1_MAX_LATENCY_US
            )
            if too_deep:
                deep.append(f"CPU {cpu} {state['name']} ({state['latency']} us)")
    expected = (
        "POLL only" if wanted == "poll" else f"no state above {C1_MAX_LATENCY_US} us exit latency"
    )
    if not deep:
        return ("pass", expected, "none deeper", "Deep C-states are held off.")
    return ("fail", expected, "; ".join(deep[:4]), f"Deep C-states are enabled; {REBOOT_FIX}.")
