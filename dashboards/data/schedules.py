"""Data of the Schedules page: schedules and their fires in display form, the cron preview,
and the changes (create, pause, resume, trigger) with the sentence a confirmation shows.

The preview asks the control plane (``POST /api/v1/schedules/preview``) rather than computing
the times here: the scheduler's daylight-saving rules are the server's, so what the form shows
is what will fire.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd

from agency.client import AgencyClient
from agency.errors import AgencyError
from agency.models import ScheduleFireOut, ScheduleView

from .frames import records
from .times import instant

SCHEDULE_COLUMNS = [
    "name",
    "cron",
    "timezone",
    "status",
    "next_fire",
    "last_fire",
    "last_outcome",
    "overlap",
    "revision",
    "id",
]
FIRE_COLUMNS = ["slot", "kind", "outcome", "lateness_ms", "task_id", "waiting_for", "fired_at"]
KINDS = ["shell", "noop", "agent"]
PREVIEW_COUNT = 5


def local(value: Any, zone: str) -> str:
    """An instant as wall time in ``zone`` with the zone's abbreviation ('-' for none)."""
    stamp = instant(value)
    if stamp is None:
        return "-"
    return f"{stamp.to_pydatetime().astimezone(ZoneInfo(zone)):%Y-%m-%d %H:%M:%S %Z}"


def until(value: datetime, now: datetime) -> str:
    """How far ahead ``value`` is, for a person: 'in 42 s', 'in 3 h 5 min', 'in 2 d 4 h'."""
    seconds = max(0, int((value - now).total_seconds()))
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"in {days} d {hours} h"
    if hours:
        return f"in {hours} h {minutes} min"
    return f"in {minutes} min {secs} s" if minutes else f"in {secs} s"


def schedules(client: AgencyClient) -> pd.DataFrame:
    """Every schedule: status, next fire and last fire in its own time zone, last outcome."""
    rows = []
    for s in records(client.schedules()):
        zone = str(s["timezone"])
        state = s.get("last_state")
        rows.append(
            {
                **s,
                "status": "paused" if s["paused"] else "active",
                "next_fire": local(s.get("next_fire"), zone),
                "last_fire": local(s.get("last_slot"), zone),
                "last_outcome": state if isinstance(state, str) else "-",
            }
        )
    return pd.DataFrame(rows, columns=SCHEDULE_COLUMNS)


def row(df: pd.DataFrame, index: int) -> dict[str, Any]:
    """One displayed schedule as a dict (what the actions and the history are given)."""
    return records(df.iloc[[index]])[0]


def outcome(fire: ScheduleFireOut) -> str:
    """What a decided slot came to: its task's state, or why it was skipped."""
    if fire.skipped_reason is not None:
        return f"skipped: {fire.skipped_reason.value}"
    if fire.task_id is None:
        return "recorded, task not confirmed"
    return fire.state.value if fire.state is not None else "submitted"


def fires(client: AgencyClient, ref: str, zone: str, limit: int = 50) -> pd.DataFrame:
    """A schedule's latest fires, newest first, with their outcomes."""
    rows = [
        {
            "slot": local(f.slot, zone),
            "kind": "manual" if f.manual else "cron",
            "outcome": outcome(f),
            "lateness_ms": round(f.lateness * 1000, 1),
            "task_id": f.task_id or "",
            "waiting_for": ", ".join(f.waiting_for),
            "fired_at": local(f.fired_at, zone),
        }
        for f in client.schedule_fires_page(ref, limit=limit).items
    ]
    return pd.DataFrame(rows, columns=FIRE_COLUMNS)


@dataclass(frozen=True)
class Preview:
    """The cron field's look-ahead: the next fire times as text, or what is wrong."""

    times: list[str]
    error: str = ""

    def markdown(self) -> str:
        if self.error:
            return f"**Not a schedule:** {self.error}"
        return "Next fires: " + "; ".join(self.times) if self.times else ""


def preview(
    client: AgencyClient, cron: str, zone: str, now: datetime | None = None
) -> Preview:
    """The next fire times of ``cron`` in ``zone`` as the scheduler computes them."""
    if not cron.strip():
        return Preview([])
    try:
        shown = client.preview_schedule(cron, zone or "UTC", PREVIEW_COUNT)
    except AgencyError as exc:
        return Preview([], _first_problem(exc))
    now = now or datetime.now(UTC)
    return Preview([f"{local(t, shown.timezone)} ({until(t, now)})" for t in shown.next_fires])


def _first_problem(exc: AgencyError) -> str:
    """The first field error of a 422 without its 'body.' prefix, else the message."""
    errors = exc.details.get("errors") or []
    if errors:
        first = errors[0]
        where = ".".join(str(p) for p in first.get("loc", [])[1:])
        return f"{where}: {first.get('msg', '')}" if where else str(first.get("msg", ""))
    return exc.message


def template(kind: str, command: str) -> dict[str, Any]:
    """The task each fire submits: ``shell`` splits the command into its argv (no shell),
    ``agent`` takes it as the prompt, ``noop`` ignores it."""
    if kind == "shell":
        return {"kind": kind, "spec": {"argv": command.split()}}
    if kind == "agent":
        return {"kind": kind, "spec": {"prompt": command}}
    return {"kind": kind, "spec": {}}


def create(
    client: AgencyClient, name: str, cron: str, zone: str, kind: str, command: str, overlap: str
) -> ScheduleView:
    return client.create_schedule(
        name, cron, template(kind, command), timezone=zone or "UTC", overlap=overlap
    )


def confirm_text(action: str, row: dict[str, Any]) -> str:
    """The sentence the confirmation shows: which schedule, and what will happen."""
    name, overlap = row["name"], row["overlap"]
    if action == "trigger":
        skip = {
            "forbid": " It is skipped if the previous run is still going (overlap forbid).",
            "replace": " A previous run still going is canceled first (overlap replace).",
        }.get(overlap, "")
        return f"Fire **{name}** now, outside its cron slots: one task is submitted.{skip}"
    if action == "pause":
        return (
            f"Pause **{name}**: no slot fires until it is resumed, and the slots in between "
            f"are not caught up (next was {row['next_fire']})."
        )
    return f"Resume **{name}**: it fires again from its next slot after now."


def act(client: AgencyClient, action: str, ref: str) -> str:
    """Do ``action`` (pause, resume or trigger) and say what came of it."""
    reason = "from the dashboard"
    if action == "pause":
        return f"Paused {client.pause_schedule(ref, reason).name}."
    if action == "resume":
        s = client.resume_schedule(ref, reason)
        nxt = local(s.next_fires[0], s.timezone) if s.next_fires else "none"
        return f"Resumed {s.name}; next fire {nxt}."
    fire = client.trigger_schedule(ref, reason)
    if fire.task_id is None:
        return f"Not fired: {outcome(fire)}."
    return f"Fired: task {fire.task_id}."
