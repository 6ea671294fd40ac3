"""``agency lint PATH...``: the placeholder scanner; exit 1 on any critical finding.

Exit codes: 0 clean or warnings only, 1 at least one critical finding (a placeholder
marker or a stub body), 2 bad input (a path that does not exist, a bad option).
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from agency.errors import AgencyError
from agency.governance.findings import Category, Severity
from agency.governance.scanner import scan_paths

ORDER = [Severity.CRITICAL, Severity.WARNING, Severity.INFO]


def lint(
    paths: list[Path] = typer.Argument(..., help="Files or directories to scan."),
    as_json: bool = typer.Option(
        False, "--json", help="Print JSON (every finding, info included)."
    ),
    ignore: list[str] = typer.Option(
        [], "--ignore", help="Glob of paths to skip (repeatable), e.g. 'tests/fixtures/*'."
    ),
    verbose: bool = typer.Option(
        False, "--verbose", "-v", help="Also list info findings (quoted mentions)."
    ),
) -> None:
    """Find placeholder markers and stub bodies (critical) and to-do markers (warning)."""
    try:
        report = scan_paths(paths, ignore)
    except AgencyError as exc:
        typer.echo(f"agency lint: {exc.message}", err=True)
        raise typer.Exit(2) from exc
    failed = bool(report.critical)
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "ok": not failed,
                    "files_scanned": report.files_scanned,
                    "skipped": report.skipped,
                    "counts": report.counts(),
                    "findings": [f.model_dump(mode="json") for f in report.findings],
                },
                indent=2,
            )
        )
        raise typer.Exit(1 if failed else 0)
    shown = [f for f in report.findings if verbose or f.severity is not Severity.INFO]
    for severity in ORDER:
        for category in Category:
            group = [f for f in shown if f.category is category and f.severity is severity]
            if not group:
                continue
            typer.echo(f"{category.value} ({severity.value}): {len(group)}")
            for f in group:
                typer.echo(f"  {f.location}  {f.message}" + (f"  | {f.text}" if f.text else ""))
    counts = report.counts()
    hidden = "" if verbose or not counts["info"] else " (hidden; --verbose shows them)"
    typer.echo(
        f"{report.files_scanned} file(s) scanned: {counts['critical']} critical, "
        f"{counts['warning']} warning, {counts['info']} info{hidden}"
        + (
            f"; {len(report.skipped)} skipped (binary, not UTF-8 or too large)"
            if report.skipped
            else ""
        )
    )
    if failed:
        typer.echo(
            "agency lint: FAILED: critical findings (placeholder markers or stub bodies) must be fixed",
            err=True,
        )
        raise typer.Exit(1)
