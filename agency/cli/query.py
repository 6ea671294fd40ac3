"""``agency query list|show|save|run|sql|delete``: saved and ad-hoc read-only SQL via the API."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from agency.cli.remote import JSON_OPTION, TOKEN_OPTION, URL_OPTION, connect, dump, fail, table
from agency.errors import NotFound
from agency.models import QueryResultOut

app = typer.Typer(
    help="Saved queries (with revisions and recorded runs) and ad-hoc read-only SQL.",
    no_args_is_help=True,
)

PARAM_OPTION = typer.Option(
    None, "--param", "-p", help="k=v (repeatable); v is read as JSON when it parses, else text."
)
QUERY_COLUMNS = ["name", "id", "revision", "created_by", "updated_at", "description"]
REVISION_COLUMNS = ["revision", "name", "created_by", "created_at", "sql"]
RUN_COLUMNS = ["started_at", "actor", "revision", "rows", "duration_ms", "status", "error"]


def parse_params(pairs: list[str] | None) -> dict[str, Any]:
    """``k=v`` pairs; ``n=3`` gives the number 3, ``kind=shell`` the text "shell"."""
    params: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            fail(f"--param must be name=value, got {pair!r}", 2)
        try:
            value: Any = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        params[key.strip()] = value
    return params


def _print_result(result: QueryResultOut, as_json: bool) -> None:
    if as_json:
        dump(result)
        return
    import pandas as pd  # lazy: start-up time of the CLI (the client has loaded it by now)

    df = pd.DataFrame(result.rows, columns=result.columns)
    typer.echo(df.to_string(index=False, max_colwidth=60) if len(df) else "(no rows)")
    note = f"{len(df)} row(s) in {result.duration_ms:.1f} ms"
    if result.truncated:
        note += " (truncated at the row cap)"
    typer.echo(note, err=True)


@app.command("list")
def list_(
    url: str | None = URL_OPTION, token: str | None = TOKEN_OPTION, as_json: bool = JSON_OPTION
) -> None:
    """Every saved query."""
    with connect(url, token) as client:
        df = client.saved_queries()
    if as_json:
        dump(df)
    else:
        table(df, QUERY_COLUMNS, empty="(no saved queries)")


@app.command()
def show(
    ref: str = typer.Argument(..., help="Name or id."),
    runs: int = typer.Option(10, "--runs", min=0, max=1000, help="Recent runs to show."),
    url: str | None = URL_OPTION,
    token: str | None = TOKEN_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """A saved query, its revisions and its recent runs."""
    import pandas as pd  # lazy: start-up time of the CLI

    with connect(url, token) as client:
        q = client.get_query(ref)
        revisions = client.query_revisions(q.id)
        recent = client.query_runs(q.id, limit=runs) if runs else pd.DataFrame(columns=RUN_COLUMNS)
    if as_json:
        dump({"query": q, "revisions": revisions, "runs": recent})
        return
    typer.echo(f"{q.name}  (id {q.id}, revision {q.revision}, by {q.created_by})")
    if q.description:
        typer.echo(q.description)
    typer.echo(f"parameters: {json.dumps(q.parameters)}\n\n{q.sql}\n\nrevisions:")
    table(revisions, REVISION_COLUMNS)
    typer.echo("\nruns:")
    table(recent, RUN_COLUMNS, empty="(never run)")


@app.command()
def save(
    name: str = typer.Argument(..., help="Name (letters, digits, _ . -)."),
    sql: str | None = typer.Option(None, "--sql", help="The statement."),
    file: Path | None = typer.Option(
        None, "--file", "-f", exists=True, dir_okay=False, help="Read the statement from a file."
    ),
    description: str | None = typer.Option(None, "--description", "-d"),
    param: list[str] = PARAM_OPTION,
    url: str | None = URL_OPTION,
    token: str | None = TOKEN_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Create a saved query, or save a new revision of the one with this name."""
    if (sql is None) == (file is None):
        fail("give the statement with exactly one of --sql or --file", 2)
    text = sql if sql is not None else file.read_text() if file is not None else ""
    params = parse_params(param) if param else None
    with connect(url, token) as client:
        try:
            client.get_query(name)
        except NotFound:
            q = client.create_query(name, text, description or "", params)
        else:
            q = client.update_query(name, sql=text, description=description, parameters=params)
    if as_json:
        dump(q)
    else:
        typer.echo(f"{q.name} revision {q.revision} ({q.id})")


@app.command()
def run(
    ref: str = typer.Argument(..., help="Name or id."),
    param: list[str] = PARAM_OPTION,
    url: str | None = URL_OPTION,
    token: str | None = TOKEN_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Run a saved query (read-only, row-capped, time-limited; the run is recorded)."""
    with connect(url, token) as client:
        result = client.run_query_result(ref, parse_params(param))
    _print_result(result, as_json)


@app.command()
def sql(
    statement: str = typer.Argument(
        ..., help='One read-only statement, e.g. "SELECT state, count(*) FROM tasks GROUP BY 1".'
    ),
    param: list[str] = PARAM_OPTION,
    url: str | None = URL_OPTION,
    token: str | None = TOKEN_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Run ad-hoc read-only SQL with $name parameters (recorded like saved-query runs)."""
    with connect(url, token) as client:
        result = client.sql_result(statement, parse_params(param))
    _print_result(result, as_json)


@app.command()
def delete(
    ref: str = typer.Argument(..., help="Name or id."),
    url: str | None = URL_OPTION,
    token: str | None = TOKEN_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Delete a saved query (admin); its revisions and runs stay for the audit trail."""
    with connect(url, token) as client:
        client.delete_query(ref)
    if as_json:
        dump({"deleted": ref})
    else:
        typer.echo(f"deleted {ref}")
