"""``agency audit verify``: check the events hash chain of the DuckDB file.

agency.storage is imported when the command runs, not when the CLI starts (start-up time).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import typer

from agency.cli.db import DB_OPTION, db_path, fail, warn_pending_journal
from agency.errors import AgencyError

app = typer.Typer(help="The audit trail: verify the events hash chain.", no_args_is_help=True)


@app.command()
def verify(
    db: Path | None = DB_OPTION, as_json: bool = typer.Option(False, "--json", help="Print JSON.")
) -> None:
    """Exit 0 when every event links to the previous one and matches its hash, 1 naming
    the first bad event when one was changed or removed, 2 when the file cannot be read."""
    from agency.storage.chain import has_events  # lazy: start-up time of the CLI
    from agency.storage.chain import verify as verify_chain  # lazy: start-up time of the CLI
    from agency.storage.connection import connect  # lazy: start-up time of the CLI

    path = db_path(db)
    if not path.exists():
        fail(f"no database at {path}", 2)
    warn_pending_journal(path)
    try:
        conn = connect(path, read_only=True)
    except AgencyError as exc:
        fail(exc.message, 2)
    try:
        if not has_events(conn):
            fail(f"{path} has no events table (run `agency db migrate`)", 2)
        report = verify_chain(conn)
    finally:
        conn.close()
    if as_json:
        typer.echo(json.dumps(asdict(report)))
    elif report.ok:
        typer.echo(f"ok: {report.checked} events, chain intact (last seq {report.last_seq})")
    else:
        typer.echo(
            f"BROKEN at seq {report.first_bad_seq}: {report.reason} ({report.checked} events verified before it)"
        )
    raise typer.Exit(0 if report.ok else 1)
