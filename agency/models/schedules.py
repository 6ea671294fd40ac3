"""Schedules: a cron expression in a time zone, the template of the task each slot submits,
and the policies for overlapping runs and for slots missed while the control plane was down.

A *slot* is one instant the cron expression names. Each decided slot is a ``ScheduleFire``:
fired (with its task) or skipped (with the reason).
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterError, croniter
from pydantic import BaseModel, Field, ValidationInfo, field_validator

from agency.errors import InvalidSpec
from agency.models.base import Strict, utcnow
from agency.models.tasks import (
    SPEC_MODELS,
    TASK_KINDS,
    RetryPolicy,
    TaskState,
    TaskSubmit,
    parse_spec,
)

#: names are typed on the command line and become the ``schedule=<name>`` task label
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
#: the label every scheduled task carries
SCHEDULE_LABEL = "schedule"
#: task labels that say where a task came from: placement ignores them (every other task
#: label is a requirement a worker must carry)
PROVENANCE_LABELS = frozenset({SCHEDULE_LABEL})
_ALIASES = frozenset(
    {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
)


class Overlap(StrEnum):
    """What a slot does while an earlier run of the same schedule is not final."""

    ALLOW = "allow"  # start anyway
    FORBID = "forbid"  # skip the slot (reason ``overlap``)
    REPLACE = "replace"  # cancel the earlier run, visibly, then start


class Catchup(StrEnum):
    """What happens to the slots missed while the control plane was down."""

    SKIP = "skip"  # none of them runs
    LATEST = "latest"  # one run, for the most recent of them
    ALL = "all"  # each of them runs, the most recent ``max_catchup`` at most


class SkipReason(StrEnum):
    """Why a slot was decided without a task."""

    MISSED = "missed"  # catch-up ``skip``
    CAUGHT_UP = "caught_up"  # catch-up ``latest``: a later missed slot ran for it
    CATCHUP_LIMIT = "catchup_limit"  # catch-up ``all``: older than the ``max_catchup`` newest
    OVERLAP = "overlap"  # overlap ``forbid``: the previous run was not final
    SUBMIT_FAILED = "submit_failed"  # the control plane refused the task


def check_cron(expr: str) -> str:
    """``expr`` normalized, if it is 5 fields, 6 with seconds last, or an ``@daily``-like alias."""
    text = " ".join(expr.split())
    fields = text.split(" ")
    if text.lower() in _ALIASES:
        text = text.lower()
    elif len(fields) not in (5, 6):
        raise ValueError(
            f"a cron expression has 5 fields (minute hour day month weekday), or 6 with the "
            f"seconds last; {text!r} has {len(fields)}"
        )
    try:
        croniter(text, datetime(2000, 1, 1)).get_next(datetime)
    except (CroniterError, KeyError, IndexError) as exc:
        raise ValueError(f"not a valid cron expression {text!r}: {exc}") from exc
    return text


def check_timezone(name: str) -> str:
    """``name`` if it is an IANA time zone this machine knows (``UTC``, ``Europe/Berlin``...)."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(
            f"unknown time zone {name!r}; use an IANA name like Europe/Berlin"
        ) from exc
    return name


def as_utc(value: datetime | None) -> datetime | None:
    """Aware and in UTC; a naive time is UTC by convention (as everywhere in agency)."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class TaskTemplate(Strict):
    """The task each fire submits (a subset of ``TaskSubmit``); checked when saved."""

    kind: str = Field(min_length=1, max_length=64)
    spec: dict[str, Any] = Field(default_factory=dict)
    labels: dict[str, str] = Field(default_factory=dict)
    priority: int = Field(0, ge=-1000, le=1000)
    retry: RetryPolicy | None = None
    locks: list[str] = Field(default_factory=list, max_length=32)
    timeout: float | None = Field(None, gt=0)

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, kind: str) -> str:
        if kind not in SPEC_MODELS:
            raise ValueError(f"unknown task kind {kind!r}; known kinds: {', '.join(TASK_KINDS)}")
        return kind

    @field_validator("spec")
    @classmethod
    def _spec_runs(cls, spec: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        kind = info.data.get("kind")
        if kind is not None:
            try:
                parse_spec(kind, spec)
            except InvalidSpec as exc:  # as a ValueError it is reported at task.spec
                raise ValueError(exc.message) from exc
        return spec

    def submit(self, key: str, schedule: str) -> TaskSubmit:
        """The task of one fire: idempotent by ``key``, labelled ``schedule=<name>``."""
        return TaskSubmit(
            kind=self.kind,
            spec=self.spec,
            labels={**self.labels, SCHEDULE_LABEL: schedule},
            priority=self.priority,
            retry=self.retry,
            locks=self.locks,
            timeout=self.timeout,
            idempotency_key=key,
        )


class ScheduleConfig(BaseModel):
    """What an operator sets on a schedule (every edit of it is a new revision)."""

    name: str = Field(min_length=1, max_length=200, pattern=NAME_PATTERN)
    cron: str = Field(
        min_length=1,
        max_length=200,
        description="5 fields, or 6 with the seconds as the sixth (croniter's convention).",
    )
    timezone: str = Field("UTC", max_length=64, description="IANA time zone of the cron fields.")
    task: TaskTemplate
    overlap: Overlap = Overlap.ALLOW
    catchup: Catchup = Catchup.LATEST
    max_catchup: int = Field(10, ge=1, le=1000, description="Most missed slots `all` runs.")
    jitter_seconds: float = Field(
        0.0, ge=0, le=3600, description="Each fire waits up to this long (fixed per slot)."
    )
    start_at: datetime | None = Field(None, description="No slot before this time fires.")
    end_at: datetime | None = Field(None, description="No slot after this time fires.")

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        return check_cron(value)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return check_timezone(value)

    @field_validator("start_at")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return as_utc(value)

    @field_validator("end_at")
    @classmethod
    def _after_start(cls, value: datetime | None, info: ValidationInfo) -> datetime | None:
        value = as_utc(value)
        start = info.data.get("start_at")
        if value is not None and start is not None and value <= start:
            raise ValueError("end_at must be after start_at")
        return value


class ScheduleIn(ScheduleConfig, Strict):
    """``POST /api/v1/schedules``: a new schedule (revision 1), paused if asked."""

    paused: bool = False


class ScheduleEdit(Strict):
    """``PATCH /api/v1/schedules/{id}``: the fields to change; ``task`` is replaced whole."""

    name: str | None = Field(None, min_length=1, max_length=200, pattern=NAME_PATTERN)
    cron: str | None = Field(None, min_length=1, max_length=200)
    timezone: str | None = Field(None, max_length=64)
    task: TaskTemplate | None = None
    overlap: Overlap | None = None
    catchup: Catchup | None = None
    max_catchup: int | None = Field(None, ge=1, le=1000)
    jitter_seconds: float | None = Field(None, ge=0, le=3600)
    start_at: datetime | None = None
    end_at: datetime | None = None

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        return None if value is None else check_cron(value)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        return None if value is None else check_timezone(value)

    @field_validator("start_at", "end_at")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return as_utc(value)


class Schedule(ScheduleConfig):
    """A schedule as stored: ``since`` is when it last became active (created, edited or
    resumed); only slots after it, and after the last decided one, are due."""

    id: str
    paused: bool = False
    revision: int = 1
    since: datetime = Field(default_factory=utcnow)
    created_by: str = "system"
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)

    def config(self) -> dict[str, Any]:
        """The operator-set fields, as a revision records them."""
        return self.model_dump(include=set(ScheduleConfig.model_fields))


class ScheduleRevision(ScheduleConfig):
    """One revision of a schedule's configuration, kept when it is edited."""

    schedule_id: str
    revision: int
    created_by: str = "system"
    created_at: datetime = Field(default_factory=utcnow)


class ScheduleFire(BaseModel):
    """One decided slot: ``task_id`` when it fired, ``skipped_reason`` when it did not.

    Both empty means the fire is recorded and its task not yet confirmed (a crash in
    between is finished on the next start). ``manual`` fires come from ``trigger``.
    """

    schedule_id: str
    slot: datetime
    manual: bool = False
    revision: int = 1
    fired_at: datetime = Field(default_factory=utcnow)
    task_id: str | None = None
    skipped_reason: SkipReason | None = None
    lateness: float = Field(0.0, description="Seconds between the slot (with jitter) and the fire.")


class ScheduleFireOut(ScheduleFire):
    """A fire with the current state of its task, and the locks it waits for if it does."""

    state: TaskState | None = None
    waiting_for: list[str] = Field(default_factory=list)


class ScheduleFirePage(BaseModel):
    """``GET /api/v1/schedules/{id}/fires``: newest first; ``next_cursor`` pages on."""

    items: list[ScheduleFireOut]
    next_cursor: str | None = None


class ScheduleView(Schedule):
    """A schedule with its next fire times (none when paused or over) and its last fire."""

    next_fires: list[datetime] = Field(default_factory=list)
    last_fire: ScheduleFireOut | None = None


class ScheduleList(BaseModel):
    """``GET /api/v1/schedules``: every schedule, by name."""

    items: list[ScheduleView]


class ScheduleReason(Strict):
    """Optional body of pause, resume and trigger: why, for the audit trail."""

    reason: str | None = Field(None, max_length=1000)


class SchedulePreviewIn(Strict):
    """``POST /api/v1/schedules/preview``: a cron expression to check and look ahead on."""

    cron: str = Field(min_length=1, max_length=200)
    timezone: str = Field("UTC", max_length=64)
    count: int = Field(5, ge=1, le=100, description="How many fire times to list.")

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        return check_cron(value)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return check_timezone(value)


class SchedulePreview(BaseModel):
    """The next fire times of a cron expression as the scheduler computes them (daylight-saving
    rules included), from now; ``cron`` is the expression as it would be stored."""

    cron: str
    timezone: str
    next_fires: list[datetime]
