"""The ``agency`` command line (typer): one sub-app per area, registered here."""

from __future__ import annotations

import typer

from agency.cli import audit, auditq, config, db, demo, lint, query, secret, task, token, up, worker
from agency.cli import budget as budget_cli
from agency.cli import runbook as runbook_cli
from agency.cli import schedule as schedule_cli
from agency.cli import workflow as workflow_cli
from agency.models import __version__

app = typer.Typer(
    name="agency",
    help="agency: an operations console for fleets of AI agents.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"agency {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """agency: submit work to agent workers, watch it, cancel it, audit it."""


app.add_typer(config.app, name="settings")
app.add_typer(db.app, name="db")
app.add_typer(demo.app, name="demo")
app.add_typer(audit.app, name="audit")
app.add_typer(worker.app, name="worker")
app.command(name="lint")(lint.lint)
app.add_typer(secret.app, name="secret")
app.add_typer(up.app, name="up")
app.add_typer(task.app, name="task")
app.add_typer(token.app, name="token")
app.add_typer(query.app, name="query")
app.add_typer(runbook_cli.app, name="runbook")
app.add_typer(schedule_cli.app, name="schedule")
app.add_typer(workflow_cli.app, name="workflow")
app.add_typer(budget_cli.app, name="budget")
audit.app.command(name="list")(auditq.audit_list)


def main() -> None:
    """Console-script entry point."""
    app()
