"""``AsyncAgencyClient``: the asyncio face of the control plane's API (httpx.AsyncClient).

Every public method of ``AgencyClient`` is here with the same name and signature, as a
coroutine (streams as async iterators, ``chat`` as an async socket, ``close`` as ``aclose``),
sending the same request built in ``agency.client.endpoints`` (or ``.chat``);
``tests/client/test_parity.py`` holds it so.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

import httpx

from agency.client import endpoints as ep
from agency.client.chat_methods import AsyncChatMethods
from agency.client.schedule_methods import AsyncScheduleMethods
from agency.client.settings import ClientSettings, resolve
from agency.client.sse import STREAM_TIMEOUT, SseDecoder, Stream
from agency.client.wire import Call, default_headers, error_from_response, transport_error
from agency.client.workflow_methods import AsyncWorkflowMethods
from agency.models import (
    AuditPage,
    BulkCancelOut,
    ChainReportOut,
    Event,
    HealthOut,
    ReplayOut,
    Role,
    Task,
    TaskDetail,
    TaskList,
    TaskState,
    TaskSubmit,
    TokenCreated,
    TokenOut,
    Waiver,
    WhoAmI,
    WorkerAttachIn,
    WorkerInfo,
    WorkerOutput,
)
from agency.models.runs import BudgetOut, ChangesOut, StoredTranscriptItem, TranscriptOut
from agency.models.timeline import DEFAULT_TIMELINE_BARS, WorkerTimeline

if TYPE_CHECKING:
    import pandas as pd

T = TypeVar("T")


class AsyncAgencyClient(AsyncChatMethods, AsyncScheduleMethods, AsyncWorkflowMethods):
    """Asynchronous client: ``AgencyClient``'s methods, awaited; ``async with`` or ``aclose()``."""

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        *,
        settings: ClientSettings | None = None,
        timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
        operator: str | None = None,
    ) -> None:
        self.url, self.token = resolve(url, token, settings)
        # the person behind the token, sent on every request (and chat socket): the audit
        # trail records "<token name> (<operator>)"; default AGENCY_OPERATOR, else nobody
        self.operator = operator or (settings or ClientSettings.load()).operator
        self.timeout = timeout
        self.headers = default_headers(self.token, self.operator)
        self._http = httpx.AsyncClient(
            base_url=self.url, headers=self.headers, timeout=timeout, transport=transport
        )

    async def __aenter__(self) -> AsyncAgencyClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _do(self, call: Call[T]) -> T:
        try:
            response = await self._http.request(
                call.method, call.path, params=call.params, json=call.json, headers=call.headers
            )
        except httpx.HTTPError as exc:
            raise transport_error(self.url, exc) from exc
        return call.answer(response)

    # --- health and identity ---
    async def health(self) -> HealthOut:
        return await self._do(ep.HEALTH.call())

    async def metrics_text(self) -> str:
        return await self._do(ep.METRICS.call())

    async def whoami(self) -> WhoAmI:
        return await self._do(ep.WHOAMI.call())

    async def kpi_history(self, since: datetime | None = None, limit: int = 1000) -> pd.DataFrame:
        return await self._do(ep.kpi_history(since, limit))

    # --- tasks ---
    async def submit(self, kind: str, spec: dict[str, Any] | None = None, **options: Any) -> Task:
        return await self._do(ep.submit(kind, spec, options))

    async def submit_many(self, tasks: list[TaskSubmit | dict[str, Any]]) -> list[Task]:
        return await self._do(ep.submit_many(tasks))

    async def tasks_page(
        self, *, limit: int = 50, cursor: str | None = None, **filters: Any
    ) -> TaskList:
        return await self._do(ep.tasks_page(limit, cursor, filters))

    async def tasks(
        self,
        state: str | TaskState | list[str | TaskState] | None = None,
        *,
        kind: str | None = None,
        worker: str | None = None,
        label: str | None = None,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
        text: str | None = None,
        parent_id: str | None = None,
        sort: str = "-created_at",
        max_rows: int = 1000,
        page_size: int = 200,
    ) -> pd.DataFrame:
        filters = dict(
            state=state,
            kind=kind,
            worker=worker,
            label=label,
            created_after=created_after,
            created_before=created_before,
            text=text,
            sort=sort,
            parent_id=parent_id,
        )
        pages = ep.task_pages(filters, max_rows, page_size)
        while (call := pages.next()) is not None:
            pages.add(await self._do(call))
        return pages.frame()

    async def task(self, task_id: str) -> TaskDetail:
        return await self._do(ep.task(task_id))

    async def children(self, task_id: str, limit: int = 500) -> list[Task]:
        return await self._do(ep.children(task_id, limit))

    async def timeline(self, task_id: str) -> pd.DataFrame:
        return await self._do(ep.timeline(task_id))

    async def transcript(self, task_id: str) -> TranscriptOut:
        """Every stored transcript item of the task's attempts, in order."""
        return await self._do(ep.transcript(task_id))

    async def transcript_frame(self, task_id: str) -> pd.DataFrame:
        """The transcript as a DataFrame (one row per item)."""
        return await self._do(ep.transcript_frame(task_id))

    async def follow_transcript(
        self,
        task_id: str,
        *,
        after: str | None = None,
        reconnect: bool = True,
        max_reconnects: int | None = None,
    ) -> AsyncIterator[StoredTranscriptItem]:
        """Transcript items as they land (SSE), until the task has ended; resumable."""
        stream = ep.transcript_stream(task_id, after, reconnect, max_reconnects)
        async for item in self._follow(stream):
            yield item

    async def changes(self, task_id: str) -> ChangesOut:
        """Files the latest agent attempt changed and its (capped) diff."""
        return await self._do(ep.changes(task_id))

    async def budgets(self) -> list[BudgetOut]:
        """Fleet budgets with their current spend."""
        return (await self._do(ep.budgets())).items

    async def budget(self, budget_id: str) -> BudgetOut:
        return await self._do(ep.budget(budget_id))

    async def create_budget(
        self,
        name: str,
        cap_usd: float,
        period: str = "day",
        selector: dict[str, str] | None = None,
    ) -> BudgetOut:
        """Cap what matching tasks (all, without a selector) may spend per period (admin)."""
        body = {"name": name, "cap_usd": cap_usd, "period": period, "selector": selector or {}}
        return await self._do(ep.create_budget(body))

    async def delete_budget(self, budget_id: str) -> BudgetOut:
        return await self._do(ep.delete_budget(budget_id))

    async def output(self, task_id: str, stream: str = "stdout", offset: int = 0) -> WorkerOutput:
        return await self._do(ep.output(task_id, stream, offset))

    async def cancel(self, task_id: str, reason: str | None = None) -> Task:
        return await self._do(ep.cancel(task_id, reason))

    async def act(
        self,
        task_id: str,
        action: str,
        reason: str | None = None,
        priority: int | None = None,
        *,
        max_cost_usd: float | None = None,
        max_turns: int | None = None,
    ) -> Task:
        return await self._do(ep.act(task_id, action, reason, priority, max_cost_usd, max_turns))

    async def bulk_cancel(
        self,
        *,
        states: list[str] | None = None,
        worker_id: str | None = None,
        label: str | None = None,
        older_than_s: float | None = None,
        dry_run: bool = True,
        reason: str | None = None,
    ) -> BulkCancelOut:
        return await self._do(
            ep.bulk_cancel(
                states=states,
                worker_id=worker_id,
                label=label,
                older_than_s=older_than_s,
                dry_run=dry_run,
                reason=reason,
            )
        )

    async def queue_paused(self) -> bool:
        return await self._do(ep.QUEUE.call())

    async def pause_queue(self, reason: str | None = None) -> bool:
        return await self._do(ep.pause_queue(reason))

    async def resume_queue(self, reason: str | None = None) -> bool:
        return await self._do(ep.resume_queue(reason))

    async def wait(self, task_id: str, timeout: float = 60.0) -> Task:
        """Until the task is terminal (watching its events); ``RequestTimeout`` past ``timeout``."""
        try:
            async with asyncio.timeout(timeout):
                await self.task(task_id)  # NotFound early; the committed terminal event decides
                async for ev in self.stream_events(after=0, resource_id=task_id):
                    if ev.action in ep.TERMINAL_ACTIONS:
                        # a failed attempt with a retry left is followed by ``task.pending``
                        got = (await self.task(task_id)).task
                        if got.state.terminal:
                            return got
        except TimeoutError:
            pass
        raise ep.not_finished(task_id, timeout)

    # --- workers ---
    async def workers(self) -> pd.DataFrame:
        return await self._do(ep.workers())

    async def worker_list(self) -> list[WorkerInfo]:
        return await self._do(ep.worker_list())

    async def attach_worker(self, body: WorkerAttachIn) -> WorkerInfo:
        """Attach a worker that does not register itself (an ag-agent-claude)."""
        return await self._do(ep.attach_worker(body))

    async def drain_worker(self, worker_id: str, reason: str | None = None) -> WorkerInfo:
        return await self._do(ep.drain_worker(worker_id, reason))

    async def remove_worker(self, worker_id: str, reason: str | None = None) -> WorkerInfo:
        return await self._do(ep.remove_worker(worker_id, reason))

    async def worker_timeline(
        self,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = DEFAULT_TIMELINE_BARS,
    ) -> WorkerTimeline:
        """Which worker ran which attempt, and when: the bars overlapping ``[since, until)``
        (default: the last fifteen minutes), oldest first, at most ``limit``."""
        return await self._do(ep.worker_timeline(since, until, limit))

    # --- audit and waivers ---
    async def audit_page(
        self,
        *,
        limit: int = 100,
        cursor: str | None = None,
        newest_first: bool = False,
        **filters: Any,
    ) -> AuditPage:
        """One page of events (oldest first, or newest first); pass ``next_cursor`` back
        with the same order for the next page."""
        return await self._do(ep.audit_page(limit, cursor, filters, newest_first))

    async def audit(
        self,
        *,
        action: str | None = None,
        actor: str | None = None,
        resource_type: str | None = None,
        resource_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        max_rows: int = 10_000,
        page_size: int = 1000,
    ) -> pd.DataFrame:
        filters = dict(
            action=action,
            actor=actor,
            resource_type=resource_type,
            resource_id=resource_id,
            since=since,
            until=until,
        )
        pages = ep.audit_pages(filters, max_rows, page_size)
        while (call := pages.next()) is not None:
            pages.add(await self._do(call))
        return pages.frame()

    async def verify_audit(self) -> ChainReportOut:
        return await self._do(ep.VERIFY_AUDIT.call())

    async def replay(self, task_id: str) -> ReplayOut:
        return await self._do(ep.replay(task_id))

    async def waivers(
        self, *, task_id: str | None = None, state: str | None = None
    ) -> pd.DataFrame:
        return await self._do(ep.waivers(task_id, state))

    async def request_waiver(self, task_id: str, reason: str) -> Waiver:
        return await self._do(ep.request_waiver(task_id, reason))

    async def decide_waiver(self, waiver_id: str, approve: bool, reason: str) -> Waiver:
        return await self._do(ep.decide_waiver(waiver_id, approve, reason))

    # --- tokens ---
    async def tokens(self) -> pd.DataFrame:
        return await self._do(ep.TOKENS.call())

    async def create_token(
        self, name: str, role: Role | str, expires_at: datetime | None = None
    ) -> TokenCreated:
        return await self._do(ep.create_token(name, role, expires_at))

    async def rotate_token(self, token_id: str, grace_seconds: float = 3600.0) -> TokenCreated:
        return await self._do(ep.rotate_token(token_id, grace_seconds))

    async def revoke_token(self, token_id: str) -> TokenOut:
        return await self._do(ep.revoke_token(token_id))

    # --- live streams ---
    async def _follow(self, stream: Stream[T]) -> AsyncIterator[T]:
        while True:
            try:
                async with self._http.stream(
                    "GET",
                    stream.path,
                    params=stream.params,
                    headers=stream.headers(),
                    timeout=STREAM_TIMEOUT,
                ) as response:
                    if response.status_code >= 400:
                        await response.aread()
                        raise error_from_response(response)
                    decoder = SseDecoder()
                    async for line in response.aiter_lines():
                        msg = decoder.feed(line)
                        item = None if msg is None else stream.seen(msg)
                        if item is not None:
                            yield item
                        if stream.ended:
                            return
            except httpx.HTTPError as exc:
                if not stream.reconnect.enabled:
                    raise transport_error(self.url, exc) from exc
            if not stream.reconnect.enabled:
                return
            await asyncio.sleep(stream.reconnect.next_delay())  # backoff, not a wait for work

    async def stream_metrics(
        self,
        *,
        last_event_id: int | None = None,
        reconnect: bool = True,
        max_reconnects: int | None = None,
    ) -> AsyncIterator[dict[str, Any]]:
        async for item in self._follow(ep.metrics_stream(last_event_id, reconnect, max_reconnects)):
            yield item

    async def stream_events(
        self,
        *,
        after: int | None = None,
        resource_type: str | None = "task",
        resource_id: str | None = None,
        action: str | None = None,
        actor: str | None = None,
        reconnect: bool = True,
        max_reconnects: int | None = None,
    ) -> AsyncIterator[Event]:
        filters = dict(
            resource_type=resource_type, resource_id=resource_id, action=action, actor=actor
        )
        async for item in self._follow(ep.event_stream(after, filters, reconnect, max_reconnects)):
            yield item
