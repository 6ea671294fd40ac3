"""``ScheduleService``: schedules kept, edited and fired by the control plane.

The schedules live in memory (the service is their only writer) and in the database; a
ticker loop, started and stopped with the control plane, wakes when the earliest slot is due
(at most every ``AGENCY_SCHEDULE_TICK_INTERVAL`` seconds) and hands each due schedule to the
``Firer``. ``tick(now)`` is the same round, callable directly with any ``now`` (the burst
mode of the scheduler: tests move time instead of sleeping). Every decision is an event.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from prometheus_client import CollectorRegistry
from pydantic import ValidationError

from agency.control.cron import cron_slots
from agency.control.schedule_batch import advance_all
from agency.control.schedule_book import SlateBook
from agency.control.schedule_fire import Firer, TaskRunner, schedule_event
from agency.control.schedule_metrics import ScheduleMetrics
from agency.control.schedule_plan import Slate
from agency.control.tasks.masking import masked_spec
from agency.errors import Conflict, NotFound, ValidationFailed
from agency.models import (
    Schedule,
    ScheduleConfig,
    ScheduleEdit,
    ScheduleFire,
    ScheduleFireOut,
    ScheduleFirePage,
    ScheduleIn,
    SchedulePreview,
    SchedulePreviewIn,
    ScheduleRevision,
    ScheduleView,
    TaskTemplate,
    new_id,
    utcnow,
)
from agency.security.masking import SecretMasker
from agency.settings import Settings
from agency.storage import ScheduleRepository

log = logging.getLogger("agency.schedules")
Clock = Callable[[], datetime]
#: next fire times a schedule's view lists
NEXT_FIRES = 5
#: shortest sleep of the ticker (a due slot that did not advance must not spin the loop)
MIN_SLEEP = 0.01
#: fields an edit may set back to null (the others keep their value when null is sent)
_NULLABLE = frozenset({"start_at", "end_at"})


class ScheduleService:
    """Create, edit, pause, resume, trigger and delete schedules, and fire their slots."""

    def __init__(
        self,
        repo: ScheduleRepository,
        tasks: TaskRunner,
        settings: Settings,
        metrics_registry: CollectorRegistry,
        *,
        clock: Clock = utcnow,
        masker: SecretMasker | None = None,
    ) -> None:
        self.repo = repo
        #: the task template (spec, labels) and reasons are masked before they are stored
        self.masker = masker if masker is not None else SecretMasker()
        self.tasks = tasks
        self.settings = settings
        self.clock = clock
        self.metrics = ScheduleMetrics(metrics_registry)
        self.firer = Firer(self.repo, tasks, self.metrics, settings)
        self._book = SlateBook()
        self._lock = asyncio.Lock()  # decisions and edits, one at a time
        self._wake = asyncio.Event()
        self._loop: asyncio.Task[None] | None = None
        self._sleep_until: datetime | None = None  # when the ticker looks next
        self.metrics.counted(self._book.counts)

    # --- lifecycle ------------------------------------------------------------------------

    async def open(self) -> None:
        """Load the schedules and finish the fires a stop (or a crash) left unconfirmed."""
        cursors = await self.repo.cursors()
        live = await self.repo.live_runs()
        for s in await self.repo.all():
            cursor = max(s.since, cursors.get(s.id, s.since))
            self._book.put(Slate(s, cursor, live.get(s.id, [])))
        for fire in await self.repo.pending():
            self.firer.pending[(fire.schedule_id, fire.slot, fire.manual)] = fire
        async with self._lock:
            await self._retry_pending()
        for slate in self._book:
            slate.refresh()
            self._book.moved(slate)
            self.metrics.due(slate.schedule.name, slate.due)

    async def start(self) -> None:
        """``open``, then run the ticker until ``stop``."""
        await self.open()
        self._loop = asyncio.get_running_loop().create_task(self._run(), name="agency-schedules")

    async def stop(self) -> None:
        if self._loop is not None:
            self._loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop
            self._loop = None

    @property
    def running(self) -> bool:
        return self._loop is not None and not self._loop.done()

    async def _run(self) -> None:
        interval = self.settings.schedule_tick_interval
        while True:
            self._wake.clear()
            delay = interval
            try:
                await self.tick()
                due = self.next_due()
                if due is not None:
                    ahead = (due - self.clock()).total_seconds()
                    delay = max(MIN_SLEEP, min(interval, ahead))
            except Exception:  # logged; the next round tries again
                log.exception("schedule tick failed")
            self._sleep_until = self.clock() + timedelta(seconds=delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)

    def next_due(self) -> datetime | None:
        """When the earliest slot of any schedule is due (``None``: nothing will fire)."""
        return self._book.next_due()

    async def tick(self, now: datetime | None = None) -> list[ScheduleFire]:
        """Decide every slot due at ``now`` (default: the clock); returns the decisions."""
        now = now or self.clock()
        async with self._lock:
            await self._retry_pending()
            due = self._book.due(now)
            try:
                decided = await advance_all(self.firer, due, now)
            finally:  # back on the heap, decided or not (a failed one is tried again)
                for slate in due:
                    self._book.moved(slate)
                    self.metrics.due(slate.schedule.name, slate.due)
        return decided

    async def _retry_pending(self) -> None:
        if self.firer.pending:
            waiting = sorted(self.firer.pending.items(), key=lambda kv: kv[1].slot)
            fires = [(self._book.get(key[0]), fire) for key, fire in waiting]
            await self.firer.submit_all(fires, recovered=True)

    # --- changes --------------------------------------------------------------------------

    async def create(self, body: ScheduleIn, actor: str) -> ScheduleView:
        """A new schedule (revision 1); its first slot is the first after now."""
        body = body.model_copy(update={"task": self._masked(body.task)})
        async with self._lock:
            self._check_name(body.name)
            now = self.clock()
            s = Schedule(
                id=new_id(),
                **body.model_dump(),
                since=now,
                created_by=actor,
                created_at=now,
                updated_at=now,
            )
            await self.repo.save(
                s,
                schedule_event(
                    actor, "schedule.created", s.id, name=s.name, revision=1, **_brief(s)
                ),
                revision=_revision(s, actor, now),
            )
            slate = Slate(s, now)
            self._changed(slate)
            return self._shape(slate, None)  # new: no fire to read back

    async def edit(self, ref: str, body: ScheduleEdit, actor: str) -> ScheduleView:
        """Change a schedule: a new revision, in force from the next slot after now."""
        if body.task is not None:
            body = body.model_copy(update={"task": self._masked(body.task)})
        changes = {
            k: v
            for k, v in body.model_dump(exclude_unset=True).items()
            if v is not None or k in _NULLABLE
        }
        async with self._lock:
            slate = self._find(ref)
            if not changes:
                return await self._view(slate)
            now = self.clock()
            if slate.due is not None and slate.due <= now:
                await self.firer.advance(slate, now)  # what was due goes by the old revision
            old = slate.schedule
            try:
                config = ScheduleConfig.model_validate({**old.config(), **changes})
            except ValidationError as exc:
                raise _invalid(exc) from exc
            self._check_name(config.name, other_than=old.id)
            new = Schedule.model_validate(
                {
                    **old.model_dump(),
                    **config.model_dump(),
                    "revision": old.revision + 1,
                    "since": now,
                    "updated_at": now,
                }
            )
            await self.repo.save(
                new,
                schedule_event(
                    actor,
                    "schedule.edited",
                    new.id,
                    name=new.name,
                    revision=new.revision,
                    changed=sorted(changes),
                    **_brief(new),
                ),
                revision=_revision(new, actor, now),
            )
            if new.name != old.name:
                self.metrics.forget(old.name)
            slate.replace(new, now)
            self._changed(slate)
        return await self.get(new.id)

    async def pause(self, ref: str, actor: str, reason: str | None = None) -> ScheduleView:
        """Stop firing (idempotent); the slots while paused are never caught up."""
        return await self._set_paused(ref, True, actor, reason)

    async def resume(self, ref: str, actor: str, reason: str | None = None) -> ScheduleView:
        """Fire again from the next slot after now (idempotent)."""
        return await self._set_paused(ref, False, actor, reason)

    async def _set_paused(
        self, ref: str, paused: bool, actor: str, reason: str | None
    ) -> ScheduleView:
        reason = self.masker.optional(reason)
        async with self._lock:
            slate = self._find(ref)
            s = slate.schedule
            if s.paused != paused:
                now = self.clock()
                update: dict[str, Any] = {"paused": paused, "updated_at": now}
                if not paused:
                    update["since"] = max(s.since, now)
                new = s.model_copy(update=update)
                action = "schedule.paused" if paused else "schedule.resumed"
                await self.repo.save(
                    new, schedule_event(actor, action, s.id, name=s.name, reason=reason)
                )
                slate.schedule = new
                slate.cursor = max(slate.cursor, new.since)
                self._changed(slate)
        return await self.get(ref)

    async def delete(self, ref: str, actor: str) -> None:
        """Remove a schedule; its fires, revisions and tasks stay."""
        async with self._lock:
            slate = self._find(ref)
            s = slate.schedule
            await self.repo.delete(s, schedule_event(actor, "schedule.deleted", s.id, name=s.name))
            self._book.remove(s.id)
            self.metrics.forget(s.name)

    async def trigger(self, ref: str, actor: str, reason: str | None = None) -> ScheduleFireOut:
        """Fire now, outside the cron slots (paused or not), under the overlap policy."""
        reason = self.masker.optional(reason)
        async with self._lock:
            slate = self._find(ref)
            now = self.clock()
            fire = await self.firer.fire(slate, now, now, manual=True, actor=actor, reason=reason)
        return await self._with_state(fire)

    def _masked(self, task: TaskTemplate) -> TaskTemplate:
        spec = masked_spec(self.masker, task.spec)
        return task.model_copy(update={"spec": spec, "labels": self.masker.tree(task.labels)})

    # --- reads ----------------------------------------------------------------------------

    async def get(self, ref: str) -> ScheduleView:
        """A schedule by id or name, with its next fire times and its last fire."""
        return await self._view(self._find(ref))

    async def all(self) -> list[ScheduleView]:
        """Every schedule, by name."""
        last = await self.repo.last_fires()
        slates = sorted(self._book, key=lambda s: s.schedule.name)
        return [self._shape(slate, last.get(slate.schedule.id)) for slate in slates]

    async def fires(
        self, ref: str, *, limit: int = 50, cursor: str | None = None
    ) -> ScheduleFirePage:
        """A page of a schedule's decided slots, newest first, with their tasks' states."""
        return await self.repo.fires(self._find(ref).schedule.id, limit=limit, cursor=cursor)

    def preview(self, body: SchedulePreviewIn) -> SchedulePreview:
        """The next ``count`` slots of a cron expression from now, as a schedule would fire
        them (what a form shows while the expression is typed; nothing is stored)."""
        slots = cron_slots(body.cron, body.timezone)
        upcoming = [slot := slots.next_after(self.clock())]
        while len(upcoming) < body.count:
            upcoming.append(slot := slots.next_after(slot))
        return SchedulePreview(cron=body.cron, timezone=body.timezone, next_fires=upcoming)

    async def revisions(self, ref: str) -> list[ScheduleRevision]:
        return await self.repo.revisions(self._find(ref).schedule.id)

    async def _view(self, slate: Slate) -> ScheduleView:
        last = (await self.repo.last_fires(slate.schedule.id)).get(slate.schedule.id)
        return self._shape(slate, None if last is None else await self._with_state(last))

    def _shape(self, slate: Slate, last: ScheduleFireOut | None) -> ScheduleView:
        s = slate.schedule
        upcoming = [] if s.paused else slate.upcoming(self.clock(), NEXT_FIRES)
        return ScheduleView(**s.model_dump(), next_fires=upcoming, last_fire=last)

    async def _with_state(self, fire: ScheduleFire) -> ScheduleFireOut:
        """The fire with its task's state as the orchestrator knows it now."""
        out = ScheduleFireOut(**fire.model_dump(exclude={"state", "waiting_for"}))
        if fire.task_id is not None:
            with contextlib.suppress(NotFound):
                task = await self.tasks.get(fire.task_id)
                out.state, out.waiting_for = task.state, list(task.waiting_for)
        return out

    # --- helpers --------------------------------------------------------------------------

    def _find(self, ref: str) -> Slate:
        slate = self._book.find(ref)
        if slate is None:
            raise NotFound(f"no schedule {ref!r}", details={"schedule": ref})
        return slate

    def _check_name(self, name: str, other_than: str | None = None) -> None:
        if self._book.name_taken(name, other_than):
            raise Conflict(
                f"a schedule named {name!r} exists", details={"field": "name", "name": name}
            )

    def _changed(self, slate: Slate) -> None:
        slate.refresh()
        self._book.put(slate)
        self.metrics.due(slate.schedule.name, slate.due)
        # the ticker is woken only if this slot comes before its next look (a create among
        # thousands must not make it run its round)
        if slate.due is not None and (self._sleep_until is None or slate.due < self._sleep_until):
            self._wake.set()


def _revision(s: Schedule, actor: str, at: datetime) -> ScheduleRevision:
    return ScheduleRevision(
        **s.config(), schedule_id=s.id, revision=s.revision, created_by=actor, created_at=at
    )


def _brief(s: Schedule) -> dict[str, Any]:
    return {"cron": s.cron, "timezone": s.timezone, "overlap": s.overlap.value}


def _invalid(exc: ValidationError) -> ValidationFailed:
    """A merged edit that fails validation, in the shape of the API's own 422s."""
    errors = [
        {
            "loc": ["body", *(str(p) for p in e["loc"])],
            "msg": str(e["msg"]),
            "type": str(e["type"]),
        }
        for e in exc.errors()
    ]
    summary = "; ".join(f"{'.'.join(e['loc'])}: {e['msg']}" for e in errors[:5])
    return ValidationFailed(f"invalid request: {summary}", details={"errors": errors})
