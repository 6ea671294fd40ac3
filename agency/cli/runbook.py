"""``agency runbook list|show|run|runs``: notebook runbooks, executed headless and recorded.

The runbook module (papermill, nbformat, the client) is imported by each command when it runs:
importing it costs more than a second, which ``agency --help`` must not pay (start-up time).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

from agency.cli.remote import JSON_OPTION, TOKEN_OPTION, URL_OPTION, connect, dump, fail, table
from agency.errors import AgencyError, ServiceUnavailable

if TYPE_CHECKING:
    from agency.client.settings import RunbookSettings

app = typer.Typer(
    help="Notebook runbooks: list them, run them headless (papermill), see who ran what.",
    no_args_is_help=True,
)


def _settings(**overrides: Any) -> RunbookSettings:
    """The runbook settings; ``agency.client`` (httpx) is imported here, when a command runs."""
    from agency.client.settings import RunbookSettings

    return RunbookSettings.load(**overrides)


PARAM_OPTION = typer.Option(
    None,
    "--param",
    "-p",
    help="name=value (repeatable); the value is parsed by the parameter's declared type.",
)
RUN_COLUMNS = ["started_at", "name", "actor", "status", "duration_s", "error", "output_path"]


def parse_pairs(pairs: list[str] | None) -> dict[str, str]:
    """``name=value`` pairs as text; types are checked against the runbook's parameters cell."""
    values: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            fail(f"--param must be name=value, got {pair!r}", 2)
        values[key.strip()] = raw
    return values


@app.command("list")
def list_(as_json: bool = JSON_OPTION) -> None:
    """Every runbook with what it is for and its parameters."""
    from agency.client.runbooks import list_runbooks  # lazy: start-up time of the CLI

    rows: list[dict[str, Any]] = []
    for b in list_runbooks(_settings()):
        try:
            rows.append(
                {
                    "name": b.name,
                    "summary": b.summary,
                    "purpose": b.purpose,
                    "parameters": sorted(b.parameters()),
                }
            )
        except AgencyError as exc:  # one broken notebook must not hide the others
            rows.append(
                {
                    "name": b.name,
                    "summary": f"(unreadable: {exc.message})",
                    "purpose": "",
                    "parameters": [],
                }
            )
    if as_json:
        dump(rows)
        return
    if not rows:
        typer.echo("(no runbooks)")
    for row in rows:
        typer.echo(f"{row['name']:<20} {row['summary']}")
        typer.echo(f"{'':<20} parameters: {', '.join(row['parameters']) or '(none)'}")


@app.command()
def show(
    name: str = typer.Argument(..., help="Runbook name."), as_json: bool = JSON_OPTION
) -> None:
    """A runbook's parameters: type, default and help."""
    from agency.client.runbooks import find_runbook  # lazy: start-up time of the CLI

    try:
        book = find_runbook(name, _settings())
    except AgencyError as exc:
        fail(exc.message)
    params = [vars(p) for p in book.parameters().values()]
    if as_json:
        dump(
            {
                "name": book.name,
                "path": str(book.path),
                "summary": book.summary,
                "purpose": book.purpose,
                "parameters": params,
            }
        )
        return
    typer.echo(
        f"{book.name}: {book.summary}\n{book.path}\n\n{book.purpose}\n\nparameters (-p name=value):"
    )
    for p in params:
        typer.echo(
            f"  {p['name']}: {p['type']} = {p['default']}"
            + (f"   # {p['help']}" if p["help"] else "")
        )


@app.command()
def run(
    name: str = typer.Argument(..., help="Runbook name (see `agency runbook list`)."),
    param: list[str] = PARAM_OPTION,
    timeout: float | None = typer.Option(
        None, "--timeout", min=1, help="Seconds before the run is stopped. [AGENCY_RUNBOOK_TIMEOUT]"
    ),
    url: str | None = URL_OPTION,
    token: str | None = TOKEN_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Execute a runbook headless, keep the executed notebook, record the run; exit 1 if it failed."""
    from agency.client.runbooks import RunbookRunner  # lazy: start-up time of the CLI

    raw = parse_pairs(param)
    settings = _settings(runbook_timeout=timeout)
    with connect(url, token) as client:
        try:
            run_ = RunbookRunner(client, settings).run(name, raw, progress=not as_json)
        except ServiceUnavailable as exc:
            fail(f"{exc.message}; nothing ran and nothing was recorded")
        except AgencyError as exc:
            fail(f"{exc.message} (recorded as a failed run)")
    if as_json:
        dump(run_)
    else:
        typer.echo(
            f"{run_.name}: {run_.status} in {run_.duration_s or 0:.1f} s (run {run_.id}, by {run_.actor})"
        )
        typer.echo(f"output: {run_.output_path}")
        if run_.error:
            typer.echo(f"error: {run_.error}", err=True)
    if run_.status != "succeeded":
        raise typer.Exit(1)


@app.command()
def runs(
    name: str | None = typer.Option(None, "--name", help="Only runs of this runbook."),
    actor: str | None = typer.Option(None, "--actor", help="Only runs by this token name."),
    status: str | None = typer.Option(None, "--status", help="succeeded or failed."),
    limit: int = typer.Option(50, "--limit", min=1, max=1000),
    url: str | None = URL_OPTION,
    token: str | None = TOKEN_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Recorded runbook runs, newest first."""
    from agency.client.runbooks import list_runs  # lazy: start-up time of the CLI

    with connect(url, token) as client:
        df = list_runs(client, name=name, actor=actor, status=status, limit=limit)
    if as_json:
        dump(df)
    else:
        table(df, RUN_COLUMNS, empty="(no runbook runs)")
