"""Result gates: checks on the files a task changed, ending in one verdict.

Gates are named in ``TaskSubmit.gates``. ``placeholders`` runs the scanner: any critical
finding (a placeholder marker, a stub body) means ``changes_requested``; warnings are
listed in the summary but do not block.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from agency.errors import BadRequest
from agency.governance.findings import Finding, ScanReport, Severity
from agency.governance.scanner import scan_paths, scan_source

APPROVED = "approved"
CHANGES_REQUESTED = "changes_requested"
WAIVED = "waived"  # set by an approved waiver, never by a gate
SUMMARY_ITEMS = 10


class Verdict(BaseModel):
    """The outcome of a task's gates: approved, or changes requested with the findings."""

    verdict: Literal["approved", "changes_requested"]
    summary: str
    findings: list[Finding] = []
    gates: list[str] = []
    files_scanned: int = 0


def _placeholders(files: list[Path]) -> ScanReport:
    # files the task deleted are reported as changed too: nothing left to scan
    return scan_paths([f for f in files if f.is_file()])


GATES: dict[str, Callable[[list[Path]], ScanReport]] = {"placeholders": _placeholders}


def _check_names(gates: Iterable[str]) -> list[str]:
    names = list(dict.fromkeys(gates))
    unknown = [g for g in names if g not in GATES]
    if unknown:
        raise BadRequest(
            f"unknown gate(s) {', '.join(unknown)}; known: {', '.join(sorted(GATES))}",
            details={"unknown": unknown},
        )
    return names


def _verdict(names: list[str], report: ScanReport) -> Verdict:
    critical = report.critical
    warnings = [f for f in report.findings if f.severity is Severity.WARNING]
    if critical:
        listed = "; ".join(
            f"{f.location} {f.category.value}: {f.message}" for f in critical[:SUMMARY_ITEMS]
        )
        more = (
            f" (and {len(critical) - SUMMARY_ITEMS} more)" if len(critical) > SUMMARY_ITEMS else ""
        )
        summary = (
            f"{len(critical)} critical finding(s) in {report.files_scanned} file(s): {listed}{more}"
        )
        verdict: Literal["approved", "changes_requested"] = "changes_requested"
    else:
        summary = f"no critical findings in {report.files_scanned} file(s)"
        verdict = "approved"
    if warnings:
        summary += f"; {len(warnings)} warning(s)"
    shown = [f for f in report.findings if f.severity is not Severity.INFO]
    return Verdict(
        verdict=verdict,
        summary=summary,
        findings=shown,
        gates=names,
        files_scanned=report.files_scanned,
    )


def evaluate_gates(gates: list[str], files: list[Path] | list[str]) -> Verdict:
    """Run each named gate on ``files`` (paths readable here) and combine the verdicts."""
    names = _check_names(gates)
    paths = [Path(f) for f in files]
    report = ScanReport()
    for name in names:
        part = GATES[name](paths)
        report.findings.extend(part.findings)
        report.files_scanned = max(report.files_scanned, part.files_scanned)
    return _verdict(names, report)


def evaluate_gates_on_contents(gates: list[str], contents: Mapping[str, str]) -> Verdict:
    """The same verdict from file contents (name -> text), for files on another machine."""
    names = _check_names(gates)
    report = ScanReport(files_scanned=len(contents))
    for name, text in contents.items():
        report.findings.extend(scan_source(name, text))
    return _verdict(names, report)
