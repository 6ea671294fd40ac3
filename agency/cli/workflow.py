"""``agency workflow run|list|show|cancel|approve|reject|retry|save``: workflow runs and saved
definitions through the API (``AgencyClient``). A definition is a JSON file
(``examples/workflows/*.json``) or the name of a saved one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from agency.cli.remote import JSON_OPTION, TOKEN_OPTION, URL_OPTION, connect, dump, fail, table
from agency.models.workflows import RunState, WorkflowRun

app = typer.Typer(
    help="Workflows (DAGs of tasks): run, list, show, cancel, approve, reject, retry, save.",
    no_args_is_help=True,
)

RUN_ID = typer.Argument(..., help="Workflow run id.")
STEP = typer.Argument(..., help="Step id.")
VERSION_OPTION = typer.Option(
    None, "--version", help="The run version you saw; refused if it is no longer current."
)
LIST_COLUMNS = ["id", "name", "state", "version", "steps", "created_by", "created_at"]


def _load(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        fail(f"cannot read the definition {path}: {exc}", 2)
    if not isinstance(data, dict):
        fail(f"{path} must hold a JSON object", 2)
    return data


def _params(pairs: list[str] | None) -> dict[str, Any]:
    """``k=v`` pairs; a value that reads as JSON (a number, a list) is taken as such."""
    out: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            fail(f"--param must be key=value, got {pair!r}", 2)
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def _summary(run: WorkflowRun) -> str:
    return f"{run.name} run {run.id}: {run.state.value} (version {run.version})"


def _show(run: WorkflowRun, as_json: bool = False) -> None:
    """A run as the commands answer: its JSON, or its summary with one line per step."""
    if as_json:
        dump(run)
        return
    typer.echo(_summary(run) + (f": {run.reason}" if run.reason else ""))
    for s in run.steps:
        tasks = f" tasks {', '.join(s.task_ids)}" if s.task_ids else ""
        why = f" ({s.reason})" if s.reason else ""
        typer.echo(f"  {s.id}: {s.state.value}{tasks}{why}")


@app.command()
def run(
    definition: str = typer.Argument(..., help="A JSON definition file, or a saved name."),
    param: list[str] | None = typer.Option(None, "--param", "-p", help="key=value (repeat)."),
    wait: bool = typer.Option(False, "--wait", help="Wait until the run is final."),
    timeout: float = typer.Option(600.0, "--timeout", help="Seconds --wait waits."),
    url: str | None = URL_OPTION,
    token: str | None = TOKEN_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Start a run, e.g. `agency workflow run examples/workflows/parallel-docs.json --wait`."""
    params = _params(param)
    path = Path(definition)
    with connect(url, token) as client:
        if path.is_file():
            made = client.submit_workflow(_load(path), params)
        else:
            made = client.run_workflow(definition, params)
        if wait:
            made = client.wait_workflow(made.id, timeout)
    _show(made, as_json)
    if wait and made.state is not RunState.SUCCEEDED:
        raise typer.Exit(1)


@app.command("list")
def list_(
    state: RunState | None = typer.Option(None, "--state"),
    name: str | None = typer.Option(None, "--name"),
    limit: int = typer.Option(50, "--limit", min=1, max=1000),
    url: str | None = URL_OPTION,
    token: str | None = TOKEN_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Runs, newest first."""
    with connect(url, token) as client:
        df = client.workflow_runs(state, name, limit)
    if as_json:
        dump(df)
    else:
        table(df, LIST_COLUMNS, empty="(no workflow runs)")


@app.command()
def show(
    run_id: str = RUN_ID,
    url: str | None = URL_OPTION,
    token: str | None = TOKEN_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """A run with each step's state and tasks."""
    with connect(url, token) as client:
        got = client.workflow_run(run_id)
    _show(got, as_json)


@app.command()
def cancel(
    run_id: str = RUN_ID,
    reason: str | None = typer.Option(None, "--reason", help="Why, for the audit trail."),
    version: int | None = VERSION_OPTION,
    url: str | None = URL_OPTION,
    token: str | None = TOKEN_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Cancel every running step's tasks and the steps not started."""
    with connect(url, token) as client:
        got = client.cancel_workflow(run_id, reason, version)
    _show(got, as_json)


def _decide(
    approve: bool,
    run_id: str,
    step: str,
    reason: str,
    version: int | None,
    url: str | None,
    token: str | None,
    as_json: bool,
) -> None:
    with connect(url, token) as client:
        if approve:
            got = client.approve_workflow_step(run_id, step, reason, version)
        else:
            got = client.reject_workflow_step(run_id, step, reason, version)
    _show(got, as_json)


@app.command()
def approve(
    run_id: str = RUN_ID,
    step: str = STEP,
    reason: str = typer.Option(..., "--reason", help="Why (audited)."),
    version: int | None = VERSION_OPTION,
    url: str | None = URL_OPTION,
    token: str | None = TOKEN_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Approve a step waiting for approval: its tasks are submitted."""
    _decide(True, run_id, step, reason, version, url, token, as_json)


@app.command()
def reject(
    run_id: str = RUN_ID,
    step: str = STEP,
    reason: str = typer.Option(..., "--reason", help="Why (audited)."),
    version: int | None = VERSION_OPTION,
    url: str | None = URL_OPTION,
    token: str | None = TOKEN_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Reject a step waiting for approval: it fails."""
    _decide(False, run_id, step, reason, version, url, token, as_json)


@app.command()
def retry(
    run_id: str = RUN_ID,
    step: str = STEP,
    reason: str | None = typer.Option(None, "--reason", help="Why, for the audit trail."),
    version: int | None = VERSION_OPTION,
    url: str | None = URL_OPTION,
    token: str | None = TOKEN_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Run a failed or canceled step again, with the steps after it."""
    with connect(url, token) as client:
        got = client.retry_workflow_step(run_id, step, reason, version)
    _show(got, as_json)


@app.command()
def save(
    path: Path = typer.Argument(..., help="A JSON definition file."),
    url: str | None = URL_OPTION,
    token: str | None = TOKEN_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Save a definition under its name (a new revision if the name exists)."""
    with connect(url, token) as client:
        saved = client.save_workflow(_load(path))
    if as_json:
        dump(saved)
    else:
        typer.echo(f"{saved.name}: revision {saved.revision}, {len(saved.steps)} steps")
