"""``agency db``: apply, revert and list schema migrations of the DuckDB file.

DuckDB and agency.storage (which brings pandas and pyarrow) are imported when a command runs,
not when the CLI starts (start-up time of ``agency --help``, benchmarks/bench_cli).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import typer

from agency.errors import AgencyError
from agency.settings import Settings

if TYPE_CHECKING:
    import duckdb

    from agency.storage import Migrator

app = typer.Typer(
    help="Schema migrations of the DuckDB file (stop the control plane first).",
    no_args_is_help=True,
)

DB_OPTION = typer.Option(
    None, "--db", help="DuckDB file; default: AGENCY_DB_PATH or <AGENCY_DATA_DIR>/agency.duckdb."
)
DIR_OPTION = typer.Option(
    None, "--migrations-dir", hidden=True, help="Directory of migration files (tests)."
)


def db_path(db: Path | None) -> Path:
    return db if db is not None else Settings.load().database_path


@contextmanager
def migrator(
    db: Path | None, migrations_dir: Path | None, *, read_only: bool = False
) -> Iterator[Migrator]:
    """A Migrator on the file; agency errors end the command with their message, exit 1."""
    from agency.storage import Migrator  # lazy: start-up time of the CLI
    from agency.storage.connection import connect  # lazy: start-up time of the CLI

    path = db_path(db)
    if read_only and not path.exists():
        fail(f"no database at {path}")
    warn_pending_journal(path)
    conn: duckdb.DuckDBPyConnection | None = None
    try:
        conn = connect(path, read_only=read_only)
        yield Migrator(conn, migrations_dir)
    except AgencyError as exc:
        fail(exc.message)
    finally:
        if conn is not None:
            conn.close()


def warn_pending_journal(path: Path) -> None:
    """Say so when acknowledged writes wait in the journal (they are not in the file yet)."""
    from agency.storage import journal  # lazy: start-up time of the CLI

    size = journal.pending_bytes(path)
    if size:
        typer.echo(
            f"warning: {path.name}.journal holds {size} bytes of acknowledged writes that are not "
            "in the database yet (the control plane did not stop cleanly); `agency up` applies "
            "them when it starts",
            err=True,
        )


def fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


@app.command()
def migrate(
    db: Path | None = DB_OPTION,
    migrations_dir: Path | None = DIR_OPTION,
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Apply every pending migration (each in its own transaction)."""
    with migrator(db, migrations_dir) as m:
        ran = m.migrate()
        version = m.version
    if as_json:
        typer.echo(json.dumps({"applied": ran, "version": version}))
    else:
        typer.echo(
            f"applied {', '.join(map(str, ran))}; now at version {version}"
            if ran
            else f"up to date at version {version}"
        )


@app.command()
def rollback(
    to: int = typer.Option(..., "--to", help="Version to go back to (0 empties the schema)."),
    db: Path | None = DB_OPTION,
    migrations_dir: Path | None = DIR_OPTION,
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Revert applied migrations above --to, newest first (runs their down sections)."""
    with migrator(db, migrations_dir) as m:
        ran = m.rollback(to)
        version = m.version
    if as_json:
        typer.echo(json.dumps({"reverted": ran, "version": version}))
    else:
        typer.echo(
            f"reverted {', '.join(map(str, ran))}; now at version {version}"
            if ran
            else f"nothing to revert; at version {version}"
        )


@app.command()
def status(
    db: Path | None = DB_OPTION,
    migrations_dir: Path | None = DIR_OPTION,
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List every migration and whether it is applied."""
    from agency.storage import Migrator  # lazy: start-up time of the CLI

    path = db_path(db)
    if not path.exists():  # a fresh install: nothing applied, and status must not create the file
        with connect_memory() as conn:
            rows = Migrator(conn, migrations_dir).status()
    else:
        with migrator(db, migrations_dir) as m:
            rows = m.status()
    if as_json:
        typer.echo(
            json.dumps(
                [
                    {
                        "version": r.version,
                        "name": r.name,
                        "applied_at": r.applied_at.isoformat() if r.applied_at else None,
                    }
                    for r in rows
                ]
            )
        )
        return
    for r in rows:
        when = r.applied_at.isoformat(timespec="seconds") if r.applied_at else "pending"
        typer.echo(f"{r.version:04d}  {r.name:<24}  {when}")


@contextmanager
def connect_memory() -> Iterator[duckdb.DuckDBPyConnection]:
    import duckdb  # lazy: start-up time of the CLI

    conn = duckdb.connect(":memory:")
    try:
        yield conn
    finally:
        conn.close()
