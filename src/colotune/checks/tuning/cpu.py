"""CPU frequency (governor, EPP, turbo, floor) and idle states (C-states)."""

from __future__ import annotations

from colotune.checks.base import Context, cpus, not_applicable
from colotune.checks.tuning.common import CPU, REBOOT_FIX, Outcome

# Deepest idle exit latency (us) allowed with tuning_idle: c1.
C1_MAX_LATENCY_US = 2


def _no_cpufreq(ctx: Context) -> str:
    if ctx.snap.virtualization:
        return "guest has no cpufreq"
    return "host has no cpufreq driver loaded"


def _per_cpu(expected: str, wrong: dict[int, str], passed: tuple[str, str], fix: str) -> Outcome:
    """A cpufreq setting judged per CPU: `passed` (actual, message) when no CPU is `wrong`, else
    what each wrong CPU shows and `fix`."""
    if not wrong:
        return ("pass", expected, *passed)
    actual = ", ".join(f"CPU {c}: {text}" for c, text in sorted(wrong.items()))
    return ("fail", expected, actual, f"{fix} (tuning role, tag tuning_cpu).")


def governor(ctx: Context) -> Outcome:
    governors = ctx.snap.per_cpu("scaling_governor")
    if not governors:
        return not_applicable(_no_cpufreq(ctx))
    wanted = ctx.profile.tuning_governor
    wrong = {c: g for c, g in governors.items() if g != wanted}
    passed = (f"{wanted} on CPUs {cpus(governors)}", "Governor as profiled.")
    return _per_cpu(wanted, wrong, passed, f"Set the governor back to {wanted}")


def energy_preference(ctx: Context) -> Outcome:
    prefs = ctx.snap.per_cpu("energy_performance_preference")
    if not prefs:
        if not ctx.snap.per_cpu("scaling_governor"):
            return not_applicable(_no_cpufreq(ctx))
        return not_applicable("the cpufreq driver has no energy_performance_preference")
    wrong = {c: p for c, p in prefs.items() if p != "performance"}
    passed = ("performance", "EPP is performance everywhere.")
    return _per_cpu("performance", wrong, passed, "Set EPP to performance")


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
    passed = (f"{expected} on CPUs {cpus(floors)}", "Frequency floor set.")
    return _per_cpu(expected, wrong, passed, f"Pin the frequency floor back to {expected}")


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
