"""The local audit history: one JSON line per run, for `colotune audit --since-last`.

Kept in $COLOTUNE_AUDIT_HISTORY, else
${XDG_STATE_HOME:-~/.local/state}/colotune/audit-history.jsonl.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from colotune.audit.evaluate import HostReport

ENV = "COLOTUNE_AUDIT_HISTORY"


def default_path() -> Path:
    if os.environ.get(ENV):
        return Path(os.environ[ENV])
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "colotune" / "audit-history.jsonl"


def entry(reports: list[HostReport], *, started: str, pattern: str) -> dict[str, Any]:
    return {
        "started": started,
        "pattern": pattern,
        "hosts": {
            r.host: {
                "verdict": r.verdict,
                "error": r.error,
                "controls": {f.result.control: f.effective for f in r.findings},
            }
            for r in reports
        },
    }


def append(path: Path, record: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        handle.write(json.dumps(record, separators=(",", ":")) + "\n")


def last_seen(path: Path, hosts: list[str]) -> dict[str, tuple[str, dict[str, Any]]]:
    """Per host, the most recent recorded run that covered it: {host: (started, state)}."""
    found: dict[str, tuple[str, dict[str, Any]]] = {}
    if not path.exists():
        return found
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue  # a torn last line from an interrupted run
        for host, state in (record.get("hosts") or {}).items():
            if host in hosts:
                found[host] = (str(record.get("started", "?")), state)
    return found


def changes(
    previous: dict[str, tuple[str, dict[str, Any]]], reports: list[HostReport]
) -> list[str]:
    """Lines saying what changed per host since its last audit."""
    lines: list[str] = []
    for report in sorted(reports, key=lambda r: r.host):
        if report.host not in previous:
            lines.append(f"{report.host}: first audit ({report.verdict})")
            continue
        when, state = previous[report.host]
        diffs = []
        if state.get("verdict") != report.verdict:
            diffs.append(f"verdict {state.get('verdict')} -> {report.verdict}")
        if bool(state.get("error")) != bool(report.error):
            diffs.append("now unreachable" if report.error else "reachable again")
        before = state.get("controls") or {}
        now = {f.result.control: f.effective for f in report.findings}
        for control in sorted(set(before) | set(now)):
            if before.get(control) != now.get(control) and now and before:
                diffs.append(f"{control} {before.get(control, '-')} -> {now.get(control, '-')}")
        lines.append(
            f"{report.host}: " + ("; ".join(diffs) if diffs else "no change") + f" (since {when})"
        )
    return lines
