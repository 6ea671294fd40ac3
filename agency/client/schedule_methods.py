"""Schedule methods of ``AgencyClient`` (``ScheduleMethods``) and of ``AsyncAgencyClient``
(``AsyncScheduleMethods``): each one sends the request ``agency.client.endpoints`` builds, so
the two faces cannot drift apart. Lists are DataFrames; ``schedule_list`` gives the models.

A schedule is named by its id or its name wherever ``ref`` is asked for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from pydantic import BaseModel

from agency.client import endpoints as ep
from agency.client.wire import Call
from agency.models import ScheduleFireOut, ScheduleFirePage, SchedulePreview, ScheduleView

if TYPE_CHECKING:
    import pandas as pd

T = TypeVar("T")


class _SyncHost(Protocol):
    def _do(self, call: Call[T]) -> T: ...


class _AsyncHost(Protocol):
    async def _do(self, call: Call[T]) -> T: ...


class ScheduleMethods:
    """Create, list, show, edit, pause, resume, trigger and delete schedules; their fires (sync)."""

    def create_schedule(
        self: _SyncHost,
        name: str,
        cron: str,
        task: dict[str, Any] | BaseModel,
        **options: Any,
    ) -> ScheduleView:
        """A new schedule; ``task`` is the template each fire submits (kind, spec, labels...),
        ``options`` the other ``ScheduleIn`` fields (timezone, overlap, catchup, paused...)."""
        return self._do(ep.create_schedule(name, cron, task, options))

    def schedules(self: _SyncHost) -> pd.DataFrame:
        """Every schedule by name, one row each, with ``next_fire`` and its last fire's
        ``last_slot``, ``last_task_id`` and ``last_state``."""
        return self._do(ep.SCHEDULES.call())

    def schedule_list(self: _SyncHost) -> list[ScheduleView]:
        """Every schedule by name, as models (with ``next_fires`` and ``last_fire``)."""
        return self._do(ep.schedule_list())

    def schedule(self: _SyncHost, ref: str) -> ScheduleView:
        """One schedule with its next 5 fire times and its last fire."""
        return self._do(ep.schedule(ref))

    def edit_schedule(self: _SyncHost, ref: str, **changes: Any) -> ScheduleView:
        """Change the given fields (a new revision, in force from the next slot)."""
        return self._do(ep.edit_schedule(ref, changes))

    def delete_schedule(self: _SyncHost, ref: str) -> None:
        """Delete a schedule (admin); its fires, revisions and tasks stay."""
        self._do(ep.delete_schedule(ref))

    def pause_schedule(self: _SyncHost, ref: str, reason: str | None = None) -> ScheduleView:
        """Stop firing; the slots while paused are never caught up."""
        return self._do(ep.pause_schedule(ref, reason))

    def resume_schedule(self: _SyncHost, ref: str, reason: str | None = None) -> ScheduleView:
        """Fire again from the next slot after now."""
        return self._do(ep.resume_schedule(ref, reason))

    def trigger_schedule(self: _SyncHost, ref: str, reason: str | None = None) -> ScheduleFireOut:
        """Fire once now under the overlap policy (a skipped fire says why)."""
        return self._do(ep.trigger_schedule(ref, reason))

    def schedule_fires_page(
        self: _SyncHost, ref: str, *, limit: int = 50, cursor: str | None = None
    ) -> ScheduleFirePage:
        """One page of a schedule's decided slots, newest first."""
        return self._do(ep.schedule_fires_page(ref, limit, cursor))

    def schedule_fires(
        self: _SyncHost, ref: str, *, max_rows: int = 1000, page_size: int = 200
    ) -> pd.DataFrame:
        """A schedule's decided slots, newest first: fired (``task_id``, ``state``, lateness)
        or skipped (``skipped_reason``), following cursors up to ``max_rows``."""
        pages = ep.schedule_fire_pages(ref, max_rows, page_size)
        while (call := pages.next()) is not None:
            pages.add(self._do(call))
        return pages.frame()

    def preview_schedule(
        self: _SyncHost, cron: str, timezone: str = "UTC", count: int = 5
    ) -> SchedulePreview:
        """The next ``count`` fire times of ``cron`` in ``timezone`` as the scheduler computes
        them; a bad expression raises ``ValidationFailed`` naming the field."""
        return self._do(ep.preview_schedule(cron, timezone, count))


class AsyncScheduleMethods:
    """The asyncio twins of ``ScheduleMethods``."""

    async def create_schedule(
        self: _AsyncHost,
        name: str,
        cron: str,
        task: dict[str, Any] | BaseModel,
        **options: Any,
    ) -> ScheduleView:
        return await self._do(ep.create_schedule(name, cron, task, options))

    async def schedules(self: _AsyncHost) -> pd.DataFrame:
        return await self._do(ep.SCHEDULES.call())

    async def schedule_list(self: _AsyncHost) -> list[ScheduleView]:
        return await self._do(ep.schedule_list())

    async def schedule(self: _AsyncHost, ref: str) -> ScheduleView:
        return await self._do(ep.schedule(ref))

    async def edit_schedule(self: _AsyncHost, ref: str, **changes: Any) -> ScheduleView:
        return await self._do(ep.edit_schedule(ref, changes))

    async def delete_schedule(self: _AsyncHost, ref: str) -> None:
        await self._do(ep.delete_schedule(ref))

    async def pause_schedule(self: _AsyncHost, ref: str, reason: str | None = None) -> ScheduleView:
        return await self._do(ep.pause_schedule(ref, reason))

    async def resume_schedule(
        self: _AsyncHost, ref: str, reason: str | None = None
    ) -> ScheduleView:
        return await self._do(ep.resume_schedule(ref, reason))

    async def trigger_schedule(
        self: _AsyncHost, ref: str, reason: str | None = None
    ) -> ScheduleFireOut:
        return await self._do(ep.trigger_schedule(ref, reason))

    async def schedule_fires_page(
        self: _AsyncHost, ref: str, *, limit: int = 50, cursor: str | None = None
    ) -> ScheduleFirePage:
        return await self._do(ep.schedule_fires_page(ref, limit, cursor))

    async def schedule_fires(
        self: _AsyncHost, ref: str, *, max_rows: int = 1000, page_size: int = 200
    ) -> pd.DataFrame:
        pages = ep.schedule_fire_pages(ref, max_rows, page_size)
        while (call := pages.next()) is not None:
            pages.add(await self._do(call))
        return pages.frame()

    async def preview_schedule(
        self: _AsyncHost, cron: str, timezone: str = "UTC", count: int = 5
    ) -> SchedulePreview:
        return await self._do(ep.preview_schedule(cron, timezone, count))
