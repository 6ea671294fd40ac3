"""``agency task submit|list|show|cancel|watch|transcript|changes``: tasks through the API
(``AgencyClient``)."""

from __future__ import annotations

import json
from typing import Any

import typer

from agency.cli.remote import (
    JSON_OPTION,
    TOKEN_OPTION,
    URL_OPTION,
    connect,
    dump,
    parse_labels,
    table,
    task_spec,
)
from agency.cli.task_agent import changes, transcript
from agency.models import Event, TaskState

app = typer.Typer(help="Submit, list, show, cancel and watch tasks.", no_args_is_help=True)
app.command()(transcript)
app.command()(changes)

TASK_COLUMNS = [
    "id",
    "kind",
    "state",
    "priority",
    "attempt",
    "worker_id",
    "created_by",
    "created_at",
    "reason",
]


@app.command()
def submit(
    kind: str = typer.Argument(..., help="shell, agent or noop."),
    args: list[str] = typer.Argument(None, help="shell: the argv (after --); agent: the prompt."),
    spec: str | None = typer.Option(None, "--spec", help="The whole spec as JSON instead of ARGS."),
    label: list[str] = typer.Option(None, "--label", "-l", help="k=v (repeatable)."),
    priority: int = typer.Option(0, "--priority", "-p", help="Higher runs first."),
    key: str | None = typer.Option(None, "--idempotency-key", help="Same key, same task."),
    timeout: float | None = typer.Option(
        None, "--timeout", help="Seconds from dispatch before it is stopped."
    ),
    wait: bool = typer.Option(False, "--wait", help="Wait until the task is finished."),
    wait_timeout: float = typer.Option(600.0, "--wait-timeout", help="Seconds --wait waits."),
    parent: str | None = typer.Option(
        None, "--parent", help="Parent task id; inside a task, that task (AGENCY_TASK_ID)."
    ),
    url: str | None = URL_OPTION,
    token: str | None = TOKEN_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Submit a task, e.g. `agency task submit shell -- echo hi`. Run inside a task, it
    submits a child of that task with the task's own AGENCY_URL and AGENCY_TOKEN."""
    body = task_spec(kind, spec, list(args or []))
    options: dict[str, Any] = {
        "labels": parse_labels(label),
        "priority": priority,
        "idempotency_key": key,
        "timeout": timeout,
        "parent_id": parent,
    }
    with connect(url, token) as client:
        task = client.submit(kind, body, **{k: v for k, v in options.items() if v is not None})
        if wait:
            task = client.wait(task.id, timeout=wait_timeout)
    if as_json:
        dump(task)
    else:
        typer.echo(
            f"{task.id} {task.state.value}"
            + (f" exit={task.exit_code}" if task.exit_code is not None else "")
        )
    if wait and task.state is not TaskState.SUCCEEDED:
        raise typer.Exit(1)


@app.command("list")
def list_(
    state: list[str] = typer.Option(None, "--state", "-s", help="Repeatable."),
    kind: str | None = typer.Option(None, "--kind"),
    worker: str | None = typer.Option(None, "--worker"),
    label: str | None = typer.Option(None, "--label", help="k=v"),
    text: str | None = typer.Option(None, "--text", help="Substring of id, kind or spec."),
    sort: str = typer.Option(
        "-created_at", "--sort", help="created_at, updated_at or priority; - for descending."
    ),
    limit: int = typer.Option(50, "--limit", "-n", min=1, max=100_000),
    url: str | None = URL_OPTION,
    token: str | None = TOKEN_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Tasks, newest first."""
    with connect(url, token) as client:
        df = client.tasks(
            list(state) if state else None,
            kind=kind,
            worker=worker,
            label=label,
            text=text,
            sort=sort,
            max_rows=limit,
        )
    if as_json:
        dump(df)
    else:
        table(df, TASK_COLUMNS, empty="(no tasks)")


@app.command()
def show(
    task_id: str,
    url: str | None = URL_OPTION,
    token: str | None = TOKEN_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """A task, its attempts and its timeline."""
    with connect(url, token) as client:
        detail = client.task(task_id)
    if as_json:
        dump(detail)
        return
    t = detail.task
    typer.echo(f"{t.id}  {t.kind}  {t.state.value}" + (f" ({t.reason})" if t.reason else ""))
    typer.echo(f"  spec: {json.dumps(t.spec)}")
    typer.echo(
        f"  priority {t.priority}, attempt {t.attempt}/{t.max_attempts}, worker {t.worker_id or '-'}, "
        f"exit {t.exit_code if t.exit_code is not None else '-'}, by {t.created_by}"
    )
    if t.parent_id is not None:
        typer.echo(f"  parent: {t.parent_id}")
    if detail.children:
        typer.echo(f"  children ({len(detail.children)}): {' '.join(detail.children)}")
    if detail.usage is not None:
        u = detail.usage
        typer.echo(
            f"  usage: {u.input_tokens} in, {u.output_tokens} out, {u.cache_read_tokens} cache "
            f"read, {u.turns} turns, ${u.cost_usd or 0:.4f} ({u.model or '-'}), "
            f"session {detail.session_id or '-'}"
        )
    for a in detail.attempts:
        typer.echo(
            f"  attempt {a.attempt} on {a.worker_id or '-'}: {a.state.value}"
            + (f" ({a.reason})" if a.reason else "")
        )
    for ev in detail.timeline:
        typer.echo(f"  {_line(ev)}")


def _line(ev: Event) -> str:
    extra = ev.details.get("reason") or ""
    return f"#{ev.seq} {ev.ts:%H:%M:%S} {ev.action:<22} {ev.resource_id} by {ev.actor} {extra}".rstrip()


@app.command()
def cancel(
    task_id: str,
    reason: str | None = typer.Option(None, "--reason"),
    url: str | None = URL_OPTION,
    token: str | None = TOKEN_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Cancel a task (idempotent)."""
    with connect(url, token) as client:
        task = client.cancel(task_id, reason)
    if as_json:
        dump(task)
    else:
        typer.echo(f"{task.id} {task.state.value}")


@app.command()
def watch(
    task_id: str | None = typer.Argument(
        None, help="One task: stop when it is finished. None: every task event."
    ),
    after: int | None = typer.Option(
        None, "--after", help="Replay events after this seq first (0: all)."
    ),
    url: str | None = URL_OPTION,
    token: str | None = TOKEN_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Follow task events live (reconnects and resumes by itself); Ctrl-C stops."""
    terminal = {f"task.{s.value}" for s in TaskState if s.terminal}
    start = 0 if task_id is not None and after is None else after
    with connect(url, token) as client:
        try:
            for ev in client.stream_events(after=start, resource_id=task_id):
                typer.echo(ev.model_dump_json() if as_json else _line(ev))
                if task_id is not None and ev.action in terminal:
                    state = client.task(task_id).task.state
                    if state.terminal:
                        raise typer.Exit(0 if state is TaskState.SUCCEEDED else 1)
        except KeyboardInterrupt:
            raise typer.Exit(130) from None
