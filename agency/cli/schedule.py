"""``agency schedule add|list|show|edit|pause|resume|trigger|rm|fires``: schedules through the
API (``AgencyClient``). A schedule is named by its name or its id wherever REF is asked for."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import typer

from agency.cli.remote import (
    JSON_OPTION,
    TOKEN_OPTION,
    URL_OPTION,
    connect,
    dump,
    fail,
    parse_labels,
    table,
    task_spec,
)
from agency.models import Catchup, Overlap, ScheduleFireOut, ScheduleView

app = typer.Typer(
    help="Cron schedules that submit tasks: add, list, show, edit, pause, resume, trigger, "
    "rm, and the history of their fires.",
    no_args_is_help=True,
)

REF = typer.Argument(..., help="Schedule name or id.")
REASON_OPTION = typer.Option(None, "--reason", help="Why, for the audit trail.")
LIST_COLUMNS = [
    "name",
    "cron",
    "timezone",
    "paused",
    "next_fire",
    "last_slot",
    "last_state",
    "overlap",
    "revision",
    "id",
]
FIRE_COLUMNS = [
    "slot",
    "manual",
    "fired_at",
    "lateness",
    "task_id",
    "state",
    "skipped_reason",
    "waiting_for",
]


def _when(value: datetime | None) -> str:
    return "-" if value is None else f"{value:%Y-%m-%d %H:%M:%S %Z}"


def _fire_line(fire: ScheduleFireOut) -> str:
    what = (
        f"task {fire.task_id} {fire.state.value if fire.state else '?'}"
        if fire.task_id
        else f"skipped ({fire.skipped_reason.value})"
        if fire.skipped_reason
        else "recorded, task not yet confirmed"
    )
    waits = f", waiting for {', '.join(fire.waiting_for)}" if fire.waiting_for else ""
    manual = " (manual)" if fire.manual else ""
    return f"{_when(fire.slot)}{manual}: {what}{waits}, {fire.lateness:.3f} s late"


def _summary(s: ScheduleView) -> str:
    state = "paused" if s.paused else f"next {_when(s.next_fires[0] if s.next_fires else None)}"
    return f"{s.name} ({s.id}) revision {s.revision}: {s.cron} {s.timezone}, {state}"


def _print(s: ScheduleView, as_json: bool) -> None:
    """A schedule as the commands that change it answer: its JSON, or its summary line."""
    if as_json:
        dump(s)
    else:
        typer.echo(_summary(s))


def _template(
    kind: str,
    args: list[str] | None,
    spec: str | None,
    labels: list[str] | None,
    priority: int,
    locks: list[str] | None,
    timeout: float | None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": kind,
        "spec": task_spec(kind, spec, list(args or [])),
        "labels": parse_labels(labels),
        "priority": priority,
        "locks": list(locks or []),
    }
    if timeout is not None:
        body["timeout"] = timeout
    return body


@app.command()
def add(
    name: str = typer.Argument(..., help="Name (letters, digits, _ . -); the tasks' label."),
    cron: str = typer.Argument(..., help='Cron expression, quoted: "30 2 * * *".'),
    kind: str = typer.Argument(..., help="Task kind: shell, agent or noop."),
    args: list[str] = typer.Argument(None, help="shell: the argv (after --); agent: the prompt."),
    spec: str | None = typer.Option(None, "--spec", help="The whole spec as JSON instead of ARGS."),
    tz: str = typer.Option("UTC", "--tz", help="IANA time zone of the cron fields."),
    overlap: Overlap = typer.Option(
        Overlap.ALLOW, "--overlap", help="While the previous run is not final."
    ),
    catchup: Catchup = typer.Option(
        Catchup.LATEST, "--catchup", help="Slots missed while the control plane was down."
    ),
    max_catchup: int = typer.Option(10, "--max-catchup", min=1, max=1000),
    jitter: float = typer.Option(0.0, "--jitter", min=0, max=3600, help="Seconds, at most."),
    label: list[str] = typer.Option(None, "--label", "-l", help="k=v (repeatable)."),
    priority: int = typer.Option(0, "--priority", "-p", help="Higher runs first."),
    lock: list[str] = typer.Option(None, "--lock", help="Lock the task holds (repeatable)."),
    timeout: float | None = typer.Option(None, "--timeout", help="Seconds per task run."),
    start_at: str | None = typer.Option(None, "--start-at", help="ISO time of the first slot."),
    end_at: str | None = typer.Option(None, "--end-at", help="ISO time after which none fires."),
    paused: bool = typer.Option(False, "--paused", help="Create it paused."),
    url: str | None = URL_OPTION,
    token: str | None = TOKEN_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Add a schedule, e.g. `agency schedule add nightly "30 2 * * *" shell -- make backup`."""
    task = _template(kind, args, spec, label, priority, lock, timeout)
    options: dict[str, Any] = {
        "timezone": tz,
        "overlap": overlap,
        "catchup": catchup,
        "max_catchup": max_catchup,
        "jitter_seconds": jitter,
        "paused": paused,
    }
    options.update({k: v for k, v in (("start_at", start_at), ("end_at", end_at)) if v})
    with connect(url, token) as client:
        made = client.create_schedule(name, cron, task, **options)
    if as_json:
        dump(made)
    else:
        typer.echo(_summary(made))


@app.command("list")
def list_(
    url: str | None = URL_OPTION, token: str | None = TOKEN_OPTION, as_json: bool = JSON_OPTION
) -> None:
    """Every schedule with its next fire and its last fire's outcome."""
    with connect(url, token) as client:
        df = client.schedules()
    if as_json:
        dump(df)
    else:
        table(df, LIST_COLUMNS, empty="(no schedules)")


@app.command()
def show(
    ref: str = REF,
    fires: int = typer.Option(10, "--fires", min=0, max=500, help="Recent fires to show."),
    url: str | None = URL_OPTION,
    token: str | None = TOKEN_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """A schedule: its settings, task template, next 5 fire times and recent fires."""
    with connect(url, token) as client:
        s = client.schedule(ref)
        recent = client.schedule_fires_page(s.id, limit=fires).items if fires else []
    if as_json:
        dump({"schedule": s, "fires": recent})
        return
    typer.echo(_summary(s))
    typer.echo(
        f"  overlap {s.overlap.value}, catch-up {s.catchup.value} (at most {s.max_catchup}), "
        f"jitter {s.jitter_seconds:g} s, window {_when(s.start_at)} .. {_when(s.end_at)}"
    )
    typer.echo(f"  task: {s.task.model_dump_json(exclude_defaults=True)}")
    typer.echo(f"  by {s.created_by}, created {_when(s.created_at)}, updated {_when(s.updated_at)}")
    typer.echo("next fires:" if s.next_fires else "next fires: none")
    for t in s.next_fires:
        typer.echo(f"  {_when(t)}")
    typer.echo("recent fires:" if recent else "recent fires: none")
    for fire in recent:
        typer.echo(f"  {_fire_line(fire)}")


@app.command()
def edit(
    ref: str = REF,
    name: str | None = typer.Option(None, "--name", help="A new name."),
    cron: str | None = typer.Option(None, "--cron"),
    tz: str | None = typer.Option(None, "--tz"),
    overlap: Overlap | None = typer.Option(None, "--overlap"),
    catchup: Catchup | None = typer.Option(None, "--catchup"),
    max_catchup: int | None = typer.Option(None, "--max-catchup", min=1, max=1000),
    jitter: float | None = typer.Option(None, "--jitter", min=0, max=3600),
    task: str | None = typer.Option(None, "--task", help="The whole task template as JSON."),
    start_at: str | None = typer.Option(None, "--start-at", help="ISO time; '' clears it."),
    end_at: str | None = typer.Option(None, "--end-at", help="ISO time; '' clears it."),
    url: str | None = URL_OPTION,
    token: str | None = TOKEN_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Change a schedule: a new revision, in force from the next slot."""
    given = {
        "name": name,
        "cron": cron,
        "timezone": tz,
        "overlap": overlap,
        "catchup": catchup,
        "max_catchup": max_catchup,
        "jitter_seconds": jitter,
    }
    changes: dict[str, Any] = {k: v for k, v in given.items() if v is not None}
    for key, value in (("start_at", start_at), ("end_at", end_at)):
        if value is not None:
            changes[key] = value or None  # an empty value clears the bound
    if task is not None:
        try:
            changes["task"] = json.loads(task)
        except json.JSONDecodeError as exc:
            fail(f"--task is not JSON: {exc}", 2)
    if not changes:
        fail("nothing to change: give at least one option", 2)
    with connect(url, token) as client:
        s = client.edit_schedule(ref, **changes)
    _print(s, as_json)


@app.command()
def pause(
    ref: str = REF,
    reason: str | None = REASON_OPTION,
    url: str | None = URL_OPTION,
    token: str | None = TOKEN_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Stop firing (the slots while paused are never caught up)."""
    with connect(url, token) as client:
        s = client.pause_schedule(ref, reason)
    _print(s, as_json)


@app.command()
def resume(
    ref: str = REF,
    reason: str | None = REASON_OPTION,
    url: str | None = URL_OPTION,
    token: str | None = TOKEN_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Fire again from the next slot after now."""
    with connect(url, token) as client:
        s = client.resume_schedule(ref, reason)
    _print(s, as_json)


@app.command()
def trigger(
    ref: str = REF,
    reason: str | None = REASON_OPTION,
    url: str | None = URL_OPTION,
    token: str | None = TOKEN_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Fire once now under the overlap policy; exit 1 when the fire was skipped."""
    with connect(url, token) as client:
        fire = client.trigger_schedule(ref, reason)
    if as_json:
        dump(fire)
    else:
        typer.echo(_fire_line(fire))
    if fire.task_id is None:
        raise typer.Exit(1)


@app.command()
def rm(
    ref: str = REF,
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    url: str | None = URL_OPTION,
    token: str | None = TOKEN_OPTION,
) -> None:
    """Delete a schedule (admin); its fires, revisions and tasks stay."""
    with connect(url, token) as client:
        s = client.schedule(ref)
        if not yes:
            typer.confirm(f"delete schedule {s.name} ({s.cron} {s.timezone})?", abort=True)
        client.delete_schedule(s.id)
    typer.echo(f"deleted {s.name} ({s.id})")


@app.command()
def fires(
    ref: str = REF,
    limit: int = typer.Option(50, "--limit", "-n", min=1, max=100_000),
    url: str | None = URL_OPTION,
    token: str | None = TOKEN_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """A schedule's decided slots, newest first: fired (task, state) or skipped (why)."""
    with connect(url, token) as client:
        df = client.schedule_fires(ref, max_rows=limit)
    if as_json:
        dump(df)
    else:
        table(df, FIRE_COLUMNS, empty="(no fires yet)")
