"""Coverage-guided fuzzing (atheris, libFuzzer) of what reads host output: the facts parsers
(colotune.host.parsers) and the cpulist parsers (colotune.host.cpulist).

The contract judged: a parser of command output or /proc text returns data for any text and
never raises; the cpulist parsers (`cpulist.parse`, `cpulist.parse_mask`,
`parsers.parse_sysfs_cpulist`) raise CpuListError and nothing else, and what they accept
renders back to the same set; `parsers.running_isolation` never raises.

Run: .venv/bin/python tests/fuzz/fuzz_parsers.py [libFuzzer flags] CORPUS_DIR [SEED_DIR...]
An input is one byte choosing the target (its index in TARGETS, modulo their number) and the
text, UTF-8 with undecodable bytes replaced. `seeds()` makes one input per recorded output in
tests/fixtures/facts/, for the target that parses it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

FACTS = Path(__file__).resolve().parents[1] / "fixtures" / "facts"


Target = tuple[str, Callable[[str], Any]]


def targets() -> list[Target]:
    """The parsers, by name. Imported here, not at the top, so that `main` can import them
    under atheris' instrumentation."""
    from colotune.host import cpulist, parsers

    def sysfs_cpulist(text: str) -> Any:
        try:
            return parsers.parse_sysfs_cpulist(text)
        except cpulist.CpuListError:
            return None

    def isolation(text: str) -> Any:
        return parsers.running_isolation(lambda rel: text)

    def round_trip(
        parse: Callable[[str], frozenset[int]], render: Callable[[frozenset[int]], str]
    ) -> Callable[[str], Any]:
        def check(text: str) -> Any:
            try:
                cpus = parse(text)
            except cpulist.CpuListError:
                return None
            assert parse(render(cpus)) == cpus, cpus
            return cpus

        return check

    def kmsg(text: str) -> Any:
        return [parsers.parse_kmsg(line) for line in text.splitlines()]

    def pmc(text: str) -> Any:
        return parsers.pmc_values(parsers.parse_pmc(text))

    return [
        ("cmdline", parsers.parse_cmdline),
        ("ethtool-c", parsers.parse_ethtool_coalesce),
        ("ethtool-g", parsers.parse_ethtool_rings),
        ("ethtool-k", parsers.parse_ethtool_features),
        ("ethtool-T", parsers.parse_ethtool_timestamping),
        ("ethtool-i", parsers.parse_ethtool_driver),
        ("interrupts", parsers.parse_interrupts),
        ("pmc", pmc),
        ("systemctl-show", parsers.parse_systemctl_show),
        ("status", parsers.parse_status),
        ("swaps", parsers.parse_swaps),
        ("mounts", parsers.parse_mounts),
        ("kmsg", kmsg),
        ("dmesg", parsers.parse_dmesg_line),
        ("sysfs-cpulist", sysfs_cpulist),
        ("isolation", isolation),
        ("cpulist", round_trip(cpulist.parse, cpulist.render)),
        ("cpumask", round_trip(cpulist.parse_mask, cpulist.render_mask)),
    ]


def run_one(data: bytes, chosen_from: list[Target]) -> None:
    """Run the target `data` chooses on its text; raises what the target raises."""
    if not data:
        return
    _, parse = chosen_from[data[0] % len(chosen_from)]
    parse(data[1:].decode("utf-8", "replace"))


def seeds() -> Iterator[tuple[str, bytes]]:
    """(file name, input) for every recorded output whose name says which parser reads it."""
    names = [name for name, _ in targets()]
    by_prefix = sorted(enumerate(names), key=lambda item: -len(item[1]))
    for path in sorted(FACTS.rglob("*.txt")):
        stem = path.name
        for index, name in by_prefix:
            if name in stem or (name == "status" and "-status" in stem):
                yield f"{path.parent.name}-{stem}", bytes([index]) + path.read_bytes()
                break
        if "cpumask" in stem or "smp_affinity" in stem:
            yield (
                f"{path.parent.name}-{stem}-mask",
                bytes([names.index("cpumask")]) + path.read_bytes(),
            )
    for text in ("0-3,8,10-11\n", "(null)\n", "1,00000003\n"):
        for name in ("cpulist", "sysfs-cpulist", "cpumask"):
            yield f"{name}-{text.strip()}", bytes([names.index(name)]) + text.encode()


def main() -> None:
    import atheris

    with atheris.instrument_imports():
        instrumented = targets()

    def one_input(data: bytes) -> None:
        run_one(data, instrumented)

    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--write-seeds":
        out = Path(sys.argv[2])
        out.mkdir(parents=True, exist_ok=True)
        for name, data in seeds():
            (out / name).write_bytes(data)
    else:
        main()
