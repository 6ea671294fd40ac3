"""Deciding slots, durably and once: ``Firer`` turns a ``Plan`` into fire rows and tasks.

A fire is written in two steps around the task's submission, and the order is what makes a
slot fire once at most, across restarts and a ``kill -9``:

1. the fire row is committed with no task yet (the slot is now decided: it is never planned
   again, since planning starts after the latest decided slot);
2. the task is submitted with the idempotency key ``schedule:<id>:<slot in ISO UTC>``;
3. the row is replaced with the task's id, with the ``schedule.fired`` event.

A crash before 1 leaves the slot undecided (no task exists: it is submitted only after 1),
so the next start plans it again, on time or as a missed slot. A crash after 1 leaves a row
without a task: the next start submits it again with the same key, and the orchestrator
answers with the task of the first try if it had landed, so there is still one task.
"""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from pydantic import ValidationError

from agency.control.schedule_metrics import ScheduleMetrics
from agency.control.schedule_plan import Plan, Slate, fire_key, iso, jitter, plan
from agency.errors import AgencyError, NotFound, ServiceUnavailable, StorageError
from agency.models import (
    EventIn,
    Overlap,
    ScheduleFire,
    SkipReason,
    Task,
    TaskSubmit,
)
from agency.settings import Settings
from agency.storage import ScheduleRepository

log = logging.getLogger("agency.schedules")
#: the actor of the scheduler's own decisions
ACTOR = "scheduler"
#: tasks submitted in one transaction when many fires are confirmed at once
SUBMIT_CHUNK = 1000


class TaskRunner(Protocol):
    """What the scheduler needs of the orchestrator."""

    async def submit(self, req: TaskSubmit, actor: str) -> Task: ...

    async def submit_many(self, reqs: list[TaskSubmit], actor: str) -> list[Task]: ...

    async def cancel(self, task_id: str, actor: str, reason: str | None = None) -> Task: ...

    async def get(self, task_id: str) -> Task: ...


def schedule_event(actor: str, action: str, schedule_id: str, **details: object) -> EventIn:
    """An audited decision about a schedule."""
    return EventIn(
        actor=actor,
        action=action,
        resource_type="schedule",
        resource_id=schedule_id,
        details=details,
    )


class Firer:
    """Plans, records and submits the fires of the slates it is given."""

    def __init__(
        self,
        repo: ScheduleRepository,
        tasks: TaskRunner,
        metrics: ScheduleMetrics,
        settings: Settings,
    ) -> None:
        self.repo = repo
        self.tasks = tasks
        self.metrics = metrics
        self.settings = settings
        #: recorded fires whose task is not confirmed yet, by their row key
        self.pending: dict[tuple[str, datetime, bool], ScheduleFire] = {}

    async def advance(self, slate: Slate, now: datetime) -> list[ScheduleFire]:
        """Decide every slot of ``slate`` due at ``now``, one at a time (each run sees the
        ones before it, as the overlap policies need); returns the decisions in slot order."""
        p = plan(slate, now, self.settings.schedule_misfire_grace)
        decided: list[ScheduleFire] = []
        rows, event = catchup(slate, p, now)
        if event is not None:
            await self.repo.record(rows, event)
            self.caught_up(slate, rows)
            decided.extend(rows)
        for slot in p.run:
            decided.append(await self.fire(slate, slot, now))
            slate.cursor = max(slate.cursor, slot)
        slate.refresh()
        return sorted(decided, key=lambda f: f.slot)

    def caught_up(self, slate: Slate, rows: list[ScheduleFire]) -> None:
        """Count recorded catch-up skips and move the slate past them."""
        reasons = [r.skipped_reason.value for r in rows if r.skipped_reason is not None]
        for reason in set(reasons):
            self.metrics.skipped(slate.schedule.name, reason, reasons.count(reason))
        if rows:
            slate.cursor = max(slate.cursor, rows[-1].slot)

    async def fire(
        self,
        slate: Slate,
        slot: datetime,
        now: datetime,
        *,
        manual: bool = False,
        actor: str = ACTOR,
        reason: str | None = None,
    ) -> ScheduleFire:
        """Decide one slot under the overlap policy: skipped, or recorded and submitted."""
        s = slate.schedule
        late = 0.0 if manual else max(0.0, (now - slot - jitter(s, slot)).total_seconds())
        fire = ScheduleFire(
            schedule_id=s.id,
            slot=slot,
            manual=manual,
            revision=s.revision,
            fired_at=now,
            lateness=late,
        )
        events: list[EventIn] = []
        live = await self.live(slate) if s.overlap is not Overlap.ALLOW else []
        if live and s.overlap is Overlap.FORBID:
            skipped = fire.model_copy(update={"skipped_reason": SkipReason.OVERLAP})
            await self.repo.record(
                [skipped],
                schedule_event(
                    actor,
                    "schedule.skipped",
                    s.id,
                    slot=iso(slot),
                    reason=SkipReason.OVERLAP.value,
                    running=[t.id for t in live],
                    manual=manual,
                ),
            )
            self.metrics.skipped(s.name, SkipReason.OVERLAP.value)
            return skipped
        if live:  # replace: the earlier runs are canceled (each visibly) before this one starts
            why = f"replaced by the {iso(slot)} run of schedule {s.name}"
            for task in live:
                await self.tasks.cancel(task.id, actor, why)
            slate.live = []
            events.append(
                schedule_event(
                    actor,
                    "schedule.replaced",
                    s.id,
                    slot=iso(slot),
                    canceled=[t.id for t in live],
                    manual=manual,
                )
            )
        await self.repo.record([fire], *events)
        self.pending[row_key(fire)] = fire
        self.drill("recorded")
        return await self.submit(slate, fire, actor, reason=reason)

    async def submit(
        self,
        slate: Slate | None,
        fire: ScheduleFire,
        actor: str = ACTOR,
        *,
        reason: str | None = None,
        recovered: bool = False,
    ) -> ScheduleFire:
        """Submit a recorded fire's task and confirm it; a refusal settles it as skipped."""
        key = fire_key(fire.schedule_id, fire.slot, fire.manual)
        if slate is None:
            return await self._refuse(fire, actor, "the schedule was deleted before its task")
        s = slate.schedule
        try:
            task = await self.tasks.submit(s.task.submit(key, s.name), actor)
        except (ServiceUnavailable, StorageError) as exc:  # passing: the next tick retries
            log.warning("schedule fire %s: submit failed, will retry: %s", key, exc)
            return fire
        except AgencyError as exc:
            self.metrics.skipped(s.name, SkipReason.SUBMIT_FAILED.value)
            return await self._refuse(fire, actor, exc.message)
        except ValidationError as exc:  # a template valid when saved, no longer valid now
            self.metrics.skipped(s.name, SkipReason.SUBMIT_FAILED.value)
            return await self._refuse(fire, actor, str(exc))
        self.drill("submitted")
        done = fire.model_copy(update={"task_id": task.id})
        await self.repo.settle([done], _fired(done, actor, recovered, reason))
        self._confirmed(slate, fire, task)
        return done

    async def submit_all(
        self,
        fires: Sequence[tuple[Slate | None, ScheduleFire]],
        *,
        recovered: bool = False,
    ) -> list[ScheduleFire]:
        """``submit`` for many recorded fires at once: their tasks in transactions of
        ``SUBMIT_CHUNK``, each chunk confirmed in one write. A chunk the orchestrator refuses
        goes one fire at a time, so one bad template does not hold up the others."""
        out: list[ScheduleFire] = []
        ready = [(slate, fire) for slate, fire in fires if slate is not None]
        for slate, fire in fires:
            if slate is None:
                out.append(await self.submit(None, fire, recovered=recovered))
        for start in range(0, len(ready), SUBMIT_CHUNK):
            chunk = ready[start : start + SUBMIT_CHUNK]
            try:
                reqs = [
                    sl.schedule.task.submit(
                        fire_key(f.schedule_id, f.slot, f.manual), sl.schedule.name
                    )
                    for sl, f in chunk
                ]
                tasks = await self.tasks.submit_many(reqs, ACTOR)
            except (ServiceUnavailable, StorageError) as exc:  # passing: the next tick retries
                log.warning("%d schedule fires: submit failed, will retry: %s", len(chunk), exc)
                out.extend(f for _, f in chunk)
                continue
            except (AgencyError, ValidationError):
                out.extend([await self.submit(sl, f, recovered=recovered) for sl, f in chunk])
                continue
            self.drill("submitted")
            done = [
                f.model_copy(update={"task_id": t.id})
                for (_, f), t in zip(chunk, tasks, strict=True)
            ]
            await self.repo.settle(done, *(_fired(d, ACTOR, recovered) for d in done))
            for (sl, f), task in zip(chunk, tasks, strict=True):
                self._confirmed(sl, f, task)
            out.extend(done)
        return out

    def _confirmed(self, slate: Slate, fire: ScheduleFire, task: Task) -> None:
        self.pending.pop(row_key(fire), None)
        slate.live.append(task.id)
        self.metrics.fired(slate.schedule.name, fire.lateness)

    async def _refuse(self, fire: ScheduleFire, actor: str, error: str) -> ScheduleFire:
        refused = fire.model_copy(update={"skipped_reason": SkipReason.SUBMIT_FAILED})
        await self.repo.settle(
            [refused],
            schedule_event(
                actor,
                "schedule.skipped",
                fire.schedule_id,
                slot=iso(fire.slot),
                reason=SkipReason.SUBMIT_FAILED.value,
                error=error,
                manual=fire.manual,
            ),
        )
        self.pending.pop(row_key(fire), None)
        return refused

    async def live(self, slate: Slate) -> list[Task]:
        """The schedule's fired tasks that are not final (the ones an overlap is about)."""
        alive: list[Task] = []
        for task_id in slate.live:
            try:
                task = await self.tasks.get(task_id)
            except NotFound:
                continue
            if not task.state.terminal:
                alive.append(task)
        slate.live = [t.id for t in alive]
        return alive

    def drill(self, step: str) -> None:
        """Fault drill for the crash tests: die here, as a ``kill -9`` would."""
        if self.settings.fault_schedule_crash == step:
            log.error("fault drill: SIGKILL once the schedule fire is %s", step)
            os.kill(os.getpid(), signal.SIGKILL)


def row_key(fire: ScheduleFire) -> tuple[str, datetime, bool]:
    """A fire's primary key: the key of ``Firer.pending``."""
    return fire.schedule_id, fire.slot, fire.manual


def catchup(slate: Slate, p: Plan, now: datetime) -> tuple[list[ScheduleFire], EventIn | None]:
    """The skipped rows of a plan's missed slots and its ``schedule.caught_up`` event
    (``None`` when nothing was missed)."""
    if not p.late:
        return [], None
    s = slate.schedule
    rows = [
        ScheduleFire(
            schedule_id=s.id,
            slot=slot,
            revision=s.revision,
            fired_at=now,
            skipped_reason=reason,
            lateness=(now - slot - jitter(s, slot)).total_seconds(),
        )
        for slot, reason in sorted(p.skip.items())
    ]
    event = schedule_event(
        ACTOR,
        "schedule.caught_up",
        s.id,
        policy=s.catchup.value,
        missed=len(p.late),
        first=iso(p.late[0]),
        last=iso(p.late[-1]),
        runs=[iso(t) for t in p.caught_up],
        skipped=len(rows),
        skipped_reason=next(iter(p.skip.values()), None),
        older_unlisted=p.unlisted,
    )
    return rows, event


def _fired(fire: ScheduleFire, actor: str, recovered: bool, reason: str | None = None) -> EventIn:
    """The ``schedule.fired`` event of a confirmed fire."""
    return schedule_event(
        actor,
        "schedule.fired",
        fire.schedule_id,
        slot=iso(fire.slot),
        task_id=fire.task_id,
        key=fire_key(fire.schedule_id, fire.slot, fire.manual),
        revision=fire.revision,
        lateness=fire.lateness,
        manual=fire.manual,
        recovered=recovered,
        reason=reason,
    )
