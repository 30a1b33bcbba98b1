"""What an audit writes: the go/no-go table, JSON, JUnit XML, HTML, a Prometheus textfile."""

from __future__ import annotations

import html
import json
import os
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from colotune.audit.evaluate import HostReport, exit_code


def _short(text: str, limit: int = 90) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def table(reports: list[HostReport]) -> str:
    """The go/no-go table (one line per host: verdict and reason), then per host each failing
    or drifting control with expected, actual and what to do."""
    ordered = sorted(reports, key=lambda r: r.host)
    width = max([len(r.host) for r in reports] + [4])
    lines = [f"{'HOST':<{width}}  {'VERDICT':<7}  REASON"]
    for report in ordered:
        lines.append(f"{report.host:<{width}}  {report.verdict.upper():<7}  {report.reason()}")
    for report in ordered:
        findings = report.failing + report.drifting
        if not findings:
            continue
        lines.append("")
        lines.append(f"{report.host}:")
        for finding in findings:
            r = finding.result
            tag = "" if finding.effective == "fail" else f" [{finding.effective}]"
            lines.append(
                f"  {r.control}{tag} {finding.control.title}: expected "
                f"{_short(r.expected)}; actual {_short(r.actual)}. {r.message}"
            )
    lines.append("")
    counts = {v: sum(1 for r in reports if r.verdict == v) for v in ("go", "drift", "no-go")}
    lines.append(
        f"{len(reports)} host(s): {counts['go']} go, {counts['drift']} drift, "
        f"{counts['no-go']} no-go"
    )
    return "\n".join(lines)


def document(reports: list[HostReport], *, started: float, seconds: float) -> dict[str, Any]:
    return {
        "format": 1,
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "seconds": round(seconds, 3),
        "exit_code": exit_code(reports),
        "hosts": [r.to_dict() for r in sorted(reports, key=lambda r: r.host)],
    }


def _write(path: Path, text: str) -> None:
    """Write atomically (a reader never sees half a file: node_exporter's textfile rule)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_junit(path: Path, reports: list[HostReport], *, seconds: float) -> None:
    suites = ET.Element("testsuites", name="colotune audit", time=f"{seconds:.3f}")
    for report in sorted(reports, key=lambda r: r.host):
        suite = ET.SubElement(suites, "testsuite", name=report.host, time=f"{report.seconds:.3f}")
        counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        if report.error:
            case = ET.SubElement(suite, "testcase", classname=report.host, name="reachable")
            ET.SubElement(case, "error", message=report.error).text = report.error
            counts["tests"] += 1
            counts["errors"] += 1
        for finding in report.findings:
            r = finding.result
            case = ET.SubElement(
                suite,
                "testcase",
                classname=f"{report.host}",
                name=f"{r.control} {finding.control.title}",
            )
            counts["tests"] += 1
            detail = f"expected {r.expected}; actual {r.actual}. {r.message}"
            if finding.effective == "fail":
                ET.SubElement(case, "failure", message=r.message).text = detail
                counts["failures"] += 1
            elif finding.effective == "not_applicable":
                ET.SubElement(case, "skipped", message=r.message)
                counts["skipped"] += 1
            elif finding.effective in ("waived", "warning"):
                reason = f"waived: {finding.waiver}" if finding.waiver else "warning"
                ET.SubElement(case, "skipped", message=f"{reason}: {detail}")
                counts["skipped"] += 1
        for key, value in counts.items():
            suite.set(key, str(value))
    ET.indent(suites)
    _write(path, ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n")


_STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin-bottom:1.5em;width:100%}
td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top;font-size:14px}
.go{background:#d9f2d9}.drift{background:#fff2cc}.no-go{background:#f8d7da}
.fail{color:#a00;font-weight:bold}.waived,.warning{color:#a60}.not_applicable{color:#777}
h2 span{font-size:70%;padding:2px 8px;border-radius:4px}
"""


def write_html(path: Path, reports: list[HostReport], *, started: float, seconds: float) -> None:
    """A self-contained page: summary, then per host its findings with expected vs actual."""
    e = html.escape
    when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(started))
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>colotune audit {e(when)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>colotune audit</h1><p>{e(when)}, {len(reports)} host(s), {seconds:.1f} s, "
        f"exit code {exit_code(reports)}</p>",
        "<table><tr><th>host</th><th>verdict</th><th>reason</th></tr>",
    ]
    ordered = sorted(reports, key=lambda r: r.host)
    for report in ordered:
        parts.append(
            f"<tr class='{report.verdict}'><td><a href='#{e(report.host)}'>{e(report.host)}</a>"
            f"</td><td>{report.verdict}</td><td>{e(report.reason())}</td></tr>"
        )
    parts.append("</table>")
    for report in ordered:
        cpu = report.collector.get("cpu_ms")
        parts.append(
            f"<h2 id='{e(report.host)}'>{e(report.host)} <span class='{report.verdict}'>"
            f"{report.verdict}</span></h2>"
            + (f"<p>collector CPU {cpu} ms</p>" if cpu is not None else "")
        )
        if report.error:
            parts.append(f"<p class='fail'>{e(report.error)}</p>")
            continue
        parts.append(
            "<table><tr><th>control</th><th>title</th><th>status</th><th>expected</th>"
            "<th>actual</th><th>what to do</th><th>fix risk / role tag</th></tr>"
        )
        for f in report.findings:
            r = f.result
            note = "".join(f"<br><small>{e(n)}</small>" for n in r.notes)
            waived = f"<br><small>waiver: {e(f.waiver)}</small>" if f.waiver else ""
            parts.append(
                f"<tr><td>{e(r.control)}</td><td>{e(f.control.title)}</td>"
                f"<td class='{f.effective}'>{e(f.effective)}</td><td>{e(r.expected)}</td>"
                f"<td>{e(r.actual)}</td><td>{e(r.message)}{note}{waived}</td>"
                f"<td>{f.control.risk} / {e(f.control.role_tag)}</td></tr>"
            )
        parts.append("</table>")
    parts.append("</body></html>\n")
    _write(path, "".join(parts))


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _gauge(name: str, help_text: str, samples: list[tuple[dict[str, str], str]]) -> list[str]:
    """One gauge in the textfile format: HELP, TYPE, then a line per (labels, value)."""
    lines = [f"# HELP {name} {help_text}", f"# TYPE {name} gauge"]
    for labels, value in samples:
        shown = ",".join(f'{key}="{_label(text)}"' for key, text in labels.items())
        lines.append(f"{name}{{{shown}}} {value}" if labels else f"{name} {value}")
    return lines


def write_prom(path: Path, reports: list[HostReport], *, seconds: float, now: float) -> None:
    """node_exporter textfile collector format: gauges per host and per host and control."""
    hosts = sorted(reports, key=lambda r: r.host)
    controls = [
        (
            {
                "host": r.host,
                "control": f.result.control,
                "status": f.effective,
                "severity": f.control.severity,
            },
            "0" if f.result.status == "fail" and f.effective != "waived" else "1",
        )
        for r in hosts
        for f in r.findings
    ]
    cpu = [
        ({"host": r.host}, f"{float(r.collector['cpu_ms']) / 1000:.4f}")
        for r in hosts
        if r.collector.get("cpu_ms") is not None
    ]
    lines = [
        *_gauge(
            "colotune_audit_control_ok",
            "1 if the control passes, is not applicable or is waived; 0 if it fails.",
            controls,
        ),
        *_gauge(
            "colotune_audit_host_go",
            "1 if the host is go, 0 if drift or no-go.",
            [
                ({"host": r.host, "verdict": r.verdict}, "1" if r.verdict == "go" else "0")
                for r in hosts
            ],
        ),
        *_gauge(
            "colotune_audit_host_reachable",
            "1 if the collector returned a snapshot.",
            [({"host": r.host}, "0" if r.error and not r.collector else "1") for r in hosts],
        ),
        *_gauge(
            "colotune_audit_collector_cpu_seconds", "CPU time the collector used on the host.", cpu
        ),
        *_gauge(
            "colotune_audit_duration_seconds",
            "Wall time of the whole audit.",
            [({}, f"{seconds:.3f}")],
        ),
        *_run_gauges(ok=True, now=now),
    ]
    _write(path, "\n".join(lines) + "\n")


def _run_gauges(*, ok: bool, now: float) -> list[str]:
    return [
        *_gauge(
            "colotune_audit_run_ok",
            "1 if the audit ran to the end; 0 if it failed (no host was judged).",
            [({}, "1" if ok else "0")],
        ),
        *_gauge(
            "colotune_audit_last_run_timestamp_seconds",
            "When the audit finished.",
            [({}, f"{now:.0f}")],
        ),
    ]


def write_prom_failed(path: Path, *, now: float) -> None:
    """The textfile of an audit that failed: run_ok 0 and when, and no host's gauges, so
    a dashboard never shows the previous run's results as current."""
    _write(path, "\n".join(_run_gauges(ok=False, now=now)) + "\n")


def write_json(path: Path, doc: dict[str, Any]) -> None:
    _write(path, json.dumps(doc, indent=2) + "\n")
