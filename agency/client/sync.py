"""``AgencyClient``: the blocking face of the control plane's API (httpx).

    from agency.client import AgencyClient
    with AgencyClient() as c:                      # AGENCY_URL / AGENCY_TOKEN, else data/admin.token
        t = c.submit("shell", {"argv": ["echo", "hi"]})
        c.wait(t.id)
        df = c.tasks(state="succeeded")            # pandas DataFrame
        for ev in c.stream_events(after=0):        # resumes by itself after a dropped connection
            ...

Each method is one request built in ``agency.client.endpoints`` (or ``.chat``), sent by
``_do``; ``AsyncAgencyClient`` sends the same ones. Every error answer is raised as the
``agency.errors`` class of its code; a control plane that cannot be reached raises
``ServiceUnavailable``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

import httpx

from agency.client import endpoints as ep
from agency.client.chat_methods import ChatMethods
from agency.client.schedule_methods import ScheduleMethods
from agency.client.settings import ClientSettings, resolve
from agency.client.sse import STREAM_TIMEOUT, SseDecoder, SseMessage, Stream
from agency.client.wire import (
    Call,
    QueryParams,
    default_headers,
    error_from_response,
    transport_error,
)
from agency.client.workflow_methods import WorkflowMethods
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


class AgencyClient(ChatMethods, ScheduleMethods, WorkflowMethods):
    """Synchronous client (httpx); use as a context manager or call ``close()``."""

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        *,
        settings: ClientSettings | None = None,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
        operator: str | None = None,
    ) -> None:
        self.url, self.token = resolve(url, token, settings)
        # the person behind the token, sent on every request (and chat socket): the audit
        # trail records "<token name> (<operator>)"; default AGENCY_OPERATOR, else nobody
        self.operator = operator or (settings or ClientSettings.load()).operator
        self.timeout = timeout
        self.headers = default_headers(self.token, self.operator)
        self._http = httpx.Client(
            base_url=self.url, headers=self.headers, timeout=timeout, transport=transport
        )

    def __enter__(self) -> AgencyClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _do(self, call: Call[T]) -> T:
        try:
            response = self._http.request(
                call.method, call.path, params=call.params, json=call.json, headers=call.headers
            )
        except httpx.HTTPError as exc:
            raise transport_error(self.url, exc) from exc
        return call.answer(response)

    # --- health and identity ---
    def health(self) -> HealthOut:
        """``/health``; a 503 (unhealthy) is returned as data, not raised."""
        return self._do(ep.HEALTH.call())

    def metrics_text(self) -> str:
        """The Prometheus exposition of ``/metrics``."""
        return self._do(ep.METRICS.call())

    def whoami(self) -> WhoAmI:
        return self._do(ep.WHOAMI.call())

    def kpi_history(self, since: datetime | None = None, limit: int = 1000) -> pd.DataFrame:
        """Sampled KPIs (``KpiSample`` columns), oldest first."""
        return self._do(ep.kpi_history(since, limit))

    # --- tasks ---
    def submit(self, kind: str, spec: dict[str, Any] | None = None, **options: Any) -> Task:
        """Submit one task; ``options`` are the other ``TaskSubmit`` fields (labels, priority...)."""
        return self._do(ep.submit(kind, spec, options))

    def submit_many(self, tasks: list[TaskSubmit | dict[str, Any]]) -> list[Task]:
        """Submit a batch in one transaction; the tasks come back in the same order."""
        return self._do(ep.submit_many(tasks))

    def tasks_page(self, *, limit: int = 50, cursor: str | None = None, **filters: Any) -> TaskList:
        """One page of tasks (``items`` as ``TaskRow`` models: an agent task carries its
        ``usage``, tokens and cost; ``next_cursor``); filters as in ``tasks``."""
        return self._do(ep.tasks_page(limit, cursor, filters))

    def tasks(
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
        """Matching tasks as a DataFrame (one row per task, an agent task's ``usage`` as a
        dict), following cursors up to ``max_rows``."""
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
            pages.add(self._do(call))
        return pages.frame()

    def task(self, task_id: str) -> TaskDetail:
        """The task with its attempts and event timeline."""
        return self._do(ep.task(task_id))

    def children(self, task_id: str, limit: int = 500) -> list[Task]:
        """The tasks ``task_id`` delegated (its children), oldest first."""
        return self._do(ep.children(task_id, limit))

    def timeline(self, task_id: str) -> pd.DataFrame:
        """The task's events as a DataFrame, oldest first."""
        return self._do(ep.timeline(task_id))

    def transcript(self, task_id: str) -> TranscriptOut:
        """Every stored transcript item of the task's attempts, in order."""
        return self._do(ep.transcript(task_id))

    def transcript_frame(self, task_id: str) -> pd.DataFrame:
        """The transcript as a DataFrame (one row per item)."""
        return self._do(ep.transcript_frame(task_id))

    def follow_transcript(
        self,
        task_id: str,
        *,
        after: str | None = None,
        reconnect: bool = True,
        max_reconnects: int | None = None,
    ) -> Iterator[StoredTranscriptItem]:
        """Transcript items as they land (SSE), until the task has ended; resumable."""
        yield from self._follow(ep.transcript_stream(task_id, after, reconnect, max_reconnects))

    def changes(self, task_id: str) -> ChangesOut:
        """Files the latest agent attempt changed and its (capped) diff."""
        return self._do(ep.changes(task_id))

    def budgets(self) -> list[BudgetOut]:
        """Fleet budgets with their current spend."""
        return self._do(ep.budgets()).items

    def budget(self, budget_id: str) -> BudgetOut:
        return self._do(ep.budget(budget_id))

    def create_budget(
        self,
        name: str,
        cap_usd: float,
        period: str = "day",
        selector: dict[str, str] | None = None,
    ) -> BudgetOut:
        """Cap what matching tasks (all, without a selector) may spend per period (admin)."""
        body = {"name": name, "cap_usd": cap_usd, "period": period, "selector": selector or {}}
        return self._do(ep.create_budget(body))

    def delete_budget(self, budget_id: str) -> BudgetOut:
        return self._do(ep.delete_budget(budget_id))

    def output(self, task_id: str, stream: str = "stdout", offset: int = 0) -> WorkerOutput:
        return self._do(ep.output(task_id, stream, offset))

    def cancel(self, task_id: str, reason: str | None = None) -> Task:
        return self._do(ep.cancel(task_id, reason))

    def act(
        self,
        task_id: str,
        action: str,
        reason: str | None = None,
        priority: int | None = None,
        *,
        max_cost_usd: float | None = None,
        max_turns: int | None = None,
    ) -> Task:
        """pause, resume, retry, abort or reprioritize (with ``priority``); resume of an agent
        task paused at its budget may raise ``max_cost_usd``/``max_turns``."""
        return self._do(ep.act(task_id, action, reason, priority, max_cost_usd, max_turns))

    def bulk_cancel(
        self,
        *,
        states: list[str] | None = None,
        worker_id: str | None = None,
        label: str | None = None,
        older_than_s: float | None = None,
        dry_run: bool = True,
        reason: str | None = None,
    ) -> BulkCancelOut:
        """Cancel every matching task; by default only count them (``dry_run``)."""
        return self._do(
            ep.bulk_cancel(
                states=states,
                worker_id=worker_id,
                label=label,
                older_than_s=older_than_s,
                dry_run=dry_run,
                reason=reason,
            )
        )

    def queue_paused(self) -> bool:
        return self._do(ep.QUEUE.call())

    def pause_queue(self, reason: str | None = None) -> bool:
        return self._do(ep.pause_queue(reason))

    def resume_queue(self, reason: str | None = None) -> bool:
        return self._do(ep.resume_queue(reason))

    def wait(self, task_id: str, timeout: float = 60.0) -> Task:
        """Block until the task is terminal (watching its events, no polling); ``RequestTimeout``."""
        deadline = time.monotonic() + timeout
        self.task(task_id)  # NotFound early
        params = ep.terminal_watch(task_id)
        while time.monotonic() < deadline:
            try:
                for msg in self._sse_once(ep.EVENTS_STREAM, params, {}, deadline=deadline):
                    if msg.event in ep.TERMINAL_ACTIONS:
                        # a failed attempt with a retry left is followed by ``task.pending``
                        got = self.task(task_id).task
                        if got.state.terminal:
                            return got
            except httpx.TimeoutException:
                continue
        raise ep.not_finished(task_id, timeout)

    # --- workers ---
    def workers(self) -> pd.DataFrame:
        return self._do(ep.workers())

    def worker_list(self) -> list[WorkerInfo]:
        return self._do(ep.worker_list())

    def attach_worker(self, body: WorkerAttachIn) -> WorkerInfo:
        """Attach a worker that does not register itself (an ag-agent-claude)."""
        return self._do(ep.attach_worker(body))

    def drain_worker(self, worker_id: str, reason: str | None = None) -> WorkerInfo:
        return self._do(ep.drain_worker(worker_id, reason))

    def remove_worker(self, worker_id: str, reason: str | None = None) -> WorkerInfo:
        return self._do(ep.remove_worker(worker_id, reason))

    def worker_timeline(
        self,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = DEFAULT_TIMELINE_BARS,
    ) -> WorkerTimeline:
        """Which worker ran which attempt, and when: the bars overlapping ``[since, until)``
        (default: the last fifteen minutes), oldest first, at most ``limit``."""
        return self._do(ep.worker_timeline(since, until, limit))

    # --- audit and waivers ---
    def audit_page(
        self,
        *,
        limit: int = 100,
        cursor: str | None = None,
        newest_first: bool = False,
        **filters: Any,
    ) -> AuditPage:
        """One page of events (oldest first, or newest first); pass ``next_cursor`` back
        with the same order for the next page."""
        return self._do(ep.audit_page(limit, cursor, filters, newest_first))

    def audit(
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
        """Audit events, oldest first, as a DataFrame (``details`` stays a dict per row)."""
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
            pages.add(self._do(call))
        return pages.frame()

    def verify_audit(self) -> ChainReportOut:
        return self._do(ep.VERIFY_AUDIT.call())

    def replay(self, task_id: str) -> ReplayOut:
        return self._do(ep.replay(task_id))

    def waivers(self, *, task_id: str | None = None, state: str | None = None) -> pd.DataFrame:
        return self._do(ep.waivers(task_id, state))

    def request_waiver(self, task_id: str, reason: str) -> Waiver:
        return self._do(ep.request_waiver(task_id, reason))

    def decide_waiver(self, waiver_id: str, approve: bool, reason: str) -> Waiver:
        return self._do(ep.decide_waiver(waiver_id, approve, reason))

    # --- tokens ---
    def tokens(self) -> pd.DataFrame:
        return self._do(ep.TOKENS.call())

    def create_token(
        self, name: str, role: Role | str, expires_at: datetime | None = None
    ) -> TokenCreated:
        """A new token (expiring at ``expires_at`` if given); ``.secret`` is shown only once."""
        return self._do(ep.create_token(name, role, expires_at))

    def rotate_token(self, token_id: str, grace_seconds: float = 3600.0) -> TokenCreated:
        """A new secret for the token (shown once); the old one works ``grace_seconds`` more."""
        return self._do(ep.rotate_token(token_id, grace_seconds))

    def revoke_token(self, token_id: str) -> TokenOut:
        return self._do(ep.revoke_token(token_id))

    # --- live streams ---
    def _sse_once(
        self,
        path: str,
        params: QueryParams,
        headers: dict[str, str],
        deadline: float | None = None,
    ) -> Iterator[SseMessage]:
        """One connection's messages; ends at ``deadline`` (monotonic), checked on every line
        (keep-alives included, so a quiet stream still ends on time)."""
        timeout = STREAM_TIMEOUT
        if deadline is not None:
            timeout = httpx.Timeout(10.0, read=max(0.01, deadline - time.monotonic()))
        headers = {"Accept": "text/event-stream", **headers}
        with self._http.stream(
            "GET", path, params=params, headers=headers, timeout=timeout
        ) as response:
            if response.status_code >= 400:
                response.read()
                raise error_from_response(response)
            decoder = SseDecoder()
            for line in response.iter_lines():
                msg = decoder.feed(line)
                if msg is not None:
                    yield msg
                if deadline is not None and time.monotonic() >= deadline:
                    return

    def _follow(self, stream: Stream[T]) -> Iterator[T]:
        while True:
            try:
                for msg in self._sse_once(stream.path, stream.params, stream.headers()):
                    item = stream.seen(msg)
                    if item is not None:
                        yield item
                    if stream.ended:
                        return
            except httpx.HTTPError as exc:
                if not stream.reconnect.enabled:
                    raise transport_error(self.url, exc) from exc
            if not stream.reconnect.enabled:
                return
            time.sleep(stream.reconnect.next_delay())  # reconnect backoff, not a wait for work

    def stream_metrics(
        self,
        *,
        last_event_id: int | None = None,
        reconnect: bool = True,
        max_reconnects: int | None = None,
    ) -> Iterator[dict[str, Any]]:
        """KPI snapshots (one per second) as dicts with their ``snapshot_id``; endless."""
        yield from self._follow(ep.metrics_stream(last_event_id, reconnect, max_reconnects))

    def stream_events(
        self,
        *,
        after: int | None = None,
        resource_type: str | None = "task",
        resource_id: str | None = None,
        action: str | None = None,
        actor: str | None = None,
        reconnect: bool = True,
        max_reconnects: int | None = None,
    ) -> Iterator[Event]:
        """Committed events (``resource_type=None`` for all kinds); ``after`` replays from that
        seq first. Reconnects resume from the last seq seen, so nothing is missed or repeated."""
        filters = dict(
            resource_type=resource_type, resource_id=resource_id, action=action, actor=actor
        )
        yield from self._follow(ep.event_stream(after, filters, reconnect, max_reconnects))
