"""``AgencyClient`` and ``AsyncAgencyClient``: the Python face of the control plane's API.

    from agency.client import AgencyClient
    with AgencyClient() as c:                      # AGENCY_URL / AGENCY_TOKEN, else data/admin.token
        t = c.submit("shell", {"argv": ["echo", "hi"]})
        c.wait(t.id)
        df = c.tasks(state="succeeded")            # pandas DataFrame
        for ev in c.stream_events(after=0):        # resumes by itself after a dropped connection
            ...

Every error answer is raised as the ``agency.errors`` class of its code; a control plane that
cannot be reached raises ``ServiceUnavailable``.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from typing import Any, TypeVar

import httpx
import pandas as pd

from agency.clientchat import (  # chat, saved queries, alerts
    AsyncChatQueryAlertMethods,
    ChatQueryAlertMethods,
)
from agency.clientwire import (
    Call,
    QueryParams,
    Reconnect,
    SseDecoder,
    SseMessage,
    error_from_response,
    model_frame,
    query,
    transport_error,
)
from agency.errors import RequestTimeout
from agency.models import (
    Event,
    KpiSample,
    Role,
    Task,
    TaskState,
    TaskSubmit,
    Waiver,
    WorkerInfo,
    WorkerOutput,
)
from agency.schemas import (
    AuditPage,
    BulkCancelOut,
    ChainReportOut,
    HealthOut,
    ReplayOut,
    TaskDetail,
    TaskList,
    TokenCreated,
    TokenOut,
    WhoAmI,
    WorkerList,
)
from agency.settings import Settings

T = TypeVar("T")
V1 = "/api/v1"
STREAM_TIMEOUT = httpx.Timeout(10.0, read=60.0)  # read > 3 keep-alives: a dead link is noticed


def resolve(
    url: str | None, token: str | None, settings: Settings | None
) -> tuple[str, str | None]:
    """URL and token: arguments, else settings (``AGENCY_URL``/``AGENCY_TOKEN``), else the
    admin token file the local control plane wrote into the data dir."""
    settings = settings or Settings.load()
    url = (url or settings.url).rstrip("/")
    if token is None:
        token = settings.token
    if token is None:
        path = settings.data_dir / "admin.token"
        if path.exists():
            token = path.read_text().strip() or None
    return url, token


# --- call builders (shared by both clients) ---------------------------------------------------


def _tasks_call(params: QueryParams) -> Call[TaskList]:
    return Call("GET", f"{V1}/tasks", TaskList.model_validate, params=params)


def _task_filters(
    state: str | TaskState | list[str | TaskState] | None,
    kind: str | None,
    worker: str | None,
    label: str | None,
    created_after: datetime | None,
    created_before: datetime | None,
    text: str | None,
    sort: str,
) -> dict[str, Any]:
    states = state if isinstance(state, list) else ([state] if state else None)
    return dict(
        state=states,
        kind=kind,
        worker=worker,
        label=label,
        created_after=created_after,
        created_before=created_before,
        text=text,
        sort=sort,
    )


def _audit_filters(
    action: str | None,
    actor: str | None,
    resource_type: str | None,
    resource_id: str | None,
    since: datetime | None,
    until: datetime | None,
) -> dict[str, Any]:
    return dict(
        action=action,
        actor=actor,
        resource_type=resource_type,
        resource_id=resource_id,
        since=since,
        until=until,
    )


def _submit_body(kind: str, spec: dict[str, Any] | None, extra: dict[str, Any]) -> dict[str, Any]:
    body = TaskSubmit.model_validate({"kind": kind, "spec": spec or {}, **extra})
    return body.model_dump(mode="json", exclude_defaults=True) | {"kind": kind}


def _batch_body(tasks: list[TaskSubmit | dict[str, Any]]) -> dict[str, Any]:
    items = [t if isinstance(t, TaskSubmit) else TaskSubmit.model_validate(t) for t in tasks]
    return {
        "tasks": [
            t.model_dump(mode="json", exclude_defaults=True) | {"kind": t.kind} for t in items
        ]
    }


def _tasks_list(data: Any) -> list[Task]:
    return [Task.model_validate(t) for t in data]


def _events_params(
    resource_type: str | None, resource_id: str | None, action: str | None, actor: str | None
) -> QueryParams:
    return query(
        resource_type=resource_type or "*", resource_id=resource_id, action=action, actor=actor
    )


TERMINAL_ACTIONS = frozenset(f"task.{s.value}" for s in TaskState if s.terminal)


class _Base:
    """Settings resolution and headers shared by both clients."""

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        *,
        settings: Settings | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.url, self.token = resolve(url, token, settings)
        self.timeout = timeout
        self.headers = {"Accept": "application/json", "User-Agent": "agency-client"}
        if self.token:
            self.headers["Authorization"] = f"Bearer {self.token}"

    def _parse(self, call: Call[T], response: httpx.Response) -> T:
        if response.status_code >= 400:
            raise error_from_response(response)
        return call.parse(response.text if call.text else response.json())


class AgencyClient(ChatQueryAlertMethods, _Base):
    """Synchronous client (httpx); use as a context manager or call ``close()``."""

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        *,
        settings: Settings | None = None,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(url, token, settings=settings, timeout=timeout)
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
                call.method, call.path, params=call.params, json=call.json
            )
        except httpx.HTTPError as exc:
            raise transport_error(self.url, exc) from exc
        return self._parse(call, response)

    # --- health and identity ---
    def health(self) -> HealthOut:
        """``/health``; a 503 (unhealthy) is returned as data, not raised."""
        try:
            response = self._http.get("/health")
        except httpx.HTTPError as exc:
            raise transport_error(self.url, exc) from exc
        if response.status_code in (200, 503):
            return HealthOut.model_validate(response.json())
        raise error_from_response(response)

    def metrics_text(self) -> str:
        return self._do(Call("GET", "/metrics", str, text=True))

    def whoami(self) -> WhoAmI:
        return self._do(Call("GET", f"{V1}/whoami", WhoAmI.model_validate))

    def kpi_history(self, since: datetime | None = None, limit: int = 1000) -> pd.DataFrame:
        """Sampled KPIs (``KpiSample`` columns), oldest first."""
        return model_frame(
            KpiSample,
            self._do(
                Call("GET", f"{V1}/kpis/history", list, params=query(since=since, limit=limit))
            ),
        )

    # --- tasks ---
    def submit(self, kind: str, spec: dict[str, Any] | None = None, **options: Any) -> Task:
        """Submit one task; ``options`` are the other ``TaskSubmit`` fields (labels, priority...)."""
        return self._do(
            Call("POST", f"{V1}/tasks", Task.model_validate, json=_submit_body(kind, spec, options))
        )

    def submit_many(self, tasks: list[TaskSubmit | dict[str, Any]]) -> list[Task]:
        """Submit a batch in one transaction; the tasks come back in the same order."""
        return self._do(Call("POST", f"{V1}/tasks", _tasks_list, json=_batch_body(tasks)))

    def tasks_page(self, *, limit: int = 50, cursor: str | None = None, **filters: Any) -> TaskList:
        """One page of tasks (``items`` as models, ``next_cursor``); filters as in ``tasks``."""
        return self._do(
            _tasks_call(query(**_task_filters(**_defaults(filters)), limit=limit, cursor=cursor))
        )

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
        sort: str = "-created_at",
        max_rows: int = 1000,
        page_size: int = 200,
    ) -> pd.DataFrame:
        """Matching tasks as a DataFrame (one row per task), following cursors up to ``max_rows``."""
        filters = _task_filters(
            state, kind, worker, label, created_after, created_before, text, sort
        )
        rows: list[dict[str, Any]] = []
        cursor: str | None = None
        while len(rows) < max_rows:
            params = query(**filters, limit=min(page_size, max_rows - len(rows)), cursor=cursor)
            page = self._do(Call("GET", f"{V1}/tasks", dict, params=params))
            rows.extend(page["items"])
            cursor = page.get("next_cursor")
            if not cursor:
                break
        return model_frame(Task, rows)

    def task(self, task_id: str) -> TaskDetail:
        """The task with its attempts and event timeline."""
        return self._do(Call("GET", f"{V1}/tasks/{task_id}", TaskDetail.model_validate))

    def timeline(self, task_id: str) -> pd.DataFrame:
        detail = self._do(Call("GET", f"{V1}/tasks/{task_id}", dict))
        return model_frame(Event, detail["timeline"])

    def output(self, task_id: str, stream: str = "stdout", offset: int = 0) -> WorkerOutput:
        return self._do(
            Call(
                "GET",
                f"{V1}/tasks/{task_id}/output",
                WorkerOutput.model_validate,
                params=query(stream=stream, offset=offset),
            )
        )

    def cancel(self, task_id: str, reason: str | None = None) -> Task:
        return self._do(
            Call(
                "POST", f"{V1}/tasks/{task_id}/cancel", Task.model_validate, json={"reason": reason}
            )
        )

    def act(
        self, task_id: str, action: str, reason: str | None = None, priority: int | None = None
    ) -> Task:
        """pause, resume, retry, abort or reprioritize (with ``priority``)."""
        body = {"action": action, "reason": reason, "priority": priority}
        return self._do(
            Call("POST", f"{V1}/tasks/{task_id}/actions", Task.model_validate, json=body)
        )

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
        body = {
            "states": states,
            "worker_id": worker_id,
            "label": label,
            "older_than_s": older_than_s,
            "dry_run": dry_run,
            "reason": reason,
        }
        return self._do(
            Call("POST", f"{V1}/tasks/bulk-cancel", BulkCancelOut.model_validate, json=body)
        )

    def queue_paused(self) -> bool:
        return self._do(Call("GET", f"{V1}/queue", lambda d: bool(d["paused"])))

    def pause_queue(self, reason: str | None = None) -> bool:
        return self._do(
            Call("POST", f"{V1}/queue/pause", lambda d: bool(d["paused"]), json={"reason": reason})
        )

    def resume_queue(self, reason: str | None = None) -> bool:
        return self._do(
            Call("POST", f"{V1}/queue/resume", lambda d: bool(d["paused"]), json={"reason": reason})
        )

    def wait(self, task_id: str, timeout: float = 60.0) -> Task:
        """Block until the task is terminal (watching its events, no polling); ``RequestTimeout``."""
        deadline = time.monotonic() + timeout
        self.task(task_id)  # NotFound early
        # the terminal *event* is the signal: it is committed with the task row, whereas the
        # task read may come from the orchestrator's memory a moment before the commit
        params = [*_events_params("task", task_id, None, None), ("after", "0")]
        while time.monotonic() < deadline:
            try:
                for msg in self._sse_once(f"{V1}/events/stream", params, None, deadline=deadline):
                    if msg.event in TERMINAL_ACTIONS:
                        return self.task(task_id).task
            except httpx.TimeoutException:
                continue
        raise RequestTimeout(
            f"task {task_id} not finished after {timeout:g} s", details={"task_id": task_id}
        )

    # --- workers ---
    def workers(self) -> pd.DataFrame:
        return model_frame(WorkerInfo, self._do(Call("GET", f"{V1}/workers", dict))["items"])

    def worker_list(self) -> list[WorkerInfo]:
        return self._do(Call("GET", f"{V1}/workers", WorkerList.model_validate)).items

    def drain_worker(self, worker_id: str, reason: str | None = None) -> WorkerInfo:
        return self._do(
            Call(
                "POST",
                f"{V1}/workers/{worker_id}/drain",
                WorkerInfo.model_validate,
                json={"reason": reason},
            )
        )

    def remove_worker(self, worker_id: str, reason: str | None = None) -> WorkerInfo:
        return self._do(
            Call(
                "DELETE",
                f"{V1}/workers/{worker_id}",
                WorkerInfo.model_validate,
                params=query(reason=reason),
            )
        )

    # --- audit and waivers ---
    def audit_page(
        self, *, limit: int = 100, cursor: str | None = None, **filters: Any
    ) -> AuditPage:
        return self._do(
            Call(
                "GET",
                f"{V1}/audit",
                AuditPage.model_validate,
                params=query(
                    **_audit_filters(**_defaults_audit(filters)), limit=limit, cursor=cursor
                ),
            )
        )

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
        filters = _audit_filters(action, actor, resource_type, resource_id, since, until)
        rows: list[dict[str, Any]] = []
        cursor: str | None = None
        while len(rows) < max_rows:
            params = query(**filters, limit=min(page_size, max_rows - len(rows)), cursor=cursor)
            page = self._do(Call("GET", f"{V1}/audit", dict, params=params))
            rows.extend(page["items"])
            cursor = page.get("next_cursor")
            if not cursor:
                break
        return model_frame(Event, rows)

    def verify_audit(self) -> ChainReportOut:
        return self._do(Call("GET", f"{V1}/audit/verify", ChainReportOut.model_validate))

    def replay(self, task_id: str) -> ReplayOut:
        return self._do(Call("GET", f"{V1}/tasks/{task_id}/replay", ReplayOut.model_validate))

    def waivers(self, *, task_id: str | None = None, state: str | None = None) -> pd.DataFrame:
        return model_frame(
            Waiver,
            self._do(
                Call("GET", f"{V1}/waivers", list, params=query(task_id=task_id, state=state))
            ),
        )

    def request_waiver(self, task_id: str, reason: str) -> Waiver:
        return self._do(
            Call(
                "POST",
                f"{V1}/waivers",
                Waiver.model_validate,
                json={"task_id": task_id, "reason": reason},
            )
        )

    def decide_waiver(self, waiver_id: str, approve: bool, reason: str) -> Waiver:
        return self._do(
            Call(
                "POST",
                f"{V1}/waivers/{waiver_id}/decide",
                Waiver.model_validate,
                json={"approve": approve, "reason": reason},
            )
        )

    # --- tokens ---
    def tokens(self) -> pd.DataFrame:
        return model_frame(TokenOut, self._do(Call("GET", f"{V1}/tokens", list)))

    def create_token(self, name: str, role: Role | str) -> TokenCreated:
        """A new token; ``.secret`` is shown only this once."""
        return self._do(
            Call(
                "POST",
                f"{V1}/tokens",
                TokenCreated.model_validate,
                json={"name": name, "role": str(role)},
            )
        )

    def revoke_token(self, token_id: str) -> TokenOut:
        return self._do(Call("DELETE", f"{V1}/tokens/{token_id}", TokenOut.model_validate))

    # --- live streams ---
    def _sse_once(
        self, path: str, params: QueryParams, last_id: str | None, deadline: float | None = None
    ) -> Iterator[SseMessage]:
        """One connection's messages; ends at ``deadline`` (monotonic), checked on every line
        (keep-alives included, so a quiet stream still ends on time)."""
        headers = {"Accept": "text/event-stream"}
        if last_id is not None:
            headers["Last-Event-ID"] = last_id
        timeout = STREAM_TIMEOUT
        if deadline is not None:
            timeout = httpx.Timeout(10.0, read=max(0.01, deadline - time.monotonic()))
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

    def _sse(
        self, path: str, params: QueryParams, last_id: str | None, reconnect: Reconnect
    ) -> Iterator[SseMessage]:
        while True:
            try:
                for msg in self._sse_once(path, params, last_id):
                    reconnect.connected()
                    if msg.retry is not None:
                        reconnect.delay = msg.retry / 1000
                    if msg.id is not None:
                        last_id = msg.id
                    yield msg
            except httpx.HTTPError as exc:
                if not reconnect.enabled:
                    raise transport_error(self.url, exc) from exc
            if not reconnect.enabled:
                return
            time.sleep(reconnect.next_delay())  # reconnect backoff, not a wait for work

    def stream_metrics(
        self,
        *,
        last_event_id: int | None = None,
        reconnect: bool = True,
        max_reconnects: int | None = None,
    ) -> Iterator[dict[str, Any]]:
        """KPI snapshots (one per second) as dicts with their ``snapshot_id``; endless."""
        policy = Reconnect(enabled=reconnect, max_attempts=max_reconnects)
        start = None if last_event_id is None else str(last_event_id)
        for msg in self._sse(f"{V1}/metrics/stream", [], start, policy):
            if msg.event == "kpi":
                yield {"snapshot_id": int(msg.id or 0), **json.loads(msg.data)}

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
        policy = Reconnect(enabled=reconnect, max_attempts=max_reconnects)
        params = _events_params(resource_type, resource_id, action, actor)
        start = None if after is None else str(after)
        for msg in self._sse(f"{V1}/events/stream", params, start, policy):
            yield Event.model_validate_json(msg.data)


def _defaults(filters: dict[str, Any]) -> dict[str, Any]:
    names = ("state", "kind", "worker", "label", "created_after", "created_before", "text")
    unknown = set(filters) - {*names, "sort"}
    if unknown:
        raise TypeError(f"unknown task filters: {', '.join(sorted(unknown))}")
    return {n: filters.get(n) for n in names} | {"sort": filters.get("sort", "-created_at")}


def _defaults_audit(filters: dict[str, Any]) -> dict[str, Any]:
    names = ("action", "actor", "resource_type", "resource_id", "since", "until")
    unknown = set(filters) - set(names)
    if unknown:
        raise TypeError(f"unknown audit filters: {', '.join(sorted(unknown))}")
    return {n: filters.get(n) for n in names}


class AsyncAgencyClient(AsyncChatQueryAlertMethods, _Base):
    """Asynchronous client (httpx.AsyncClient), same methods as ``AgencyClient``, awaited."""

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        *,
        settings: Settings | None = None,
        timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(url, token, settings=settings, timeout=timeout)
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
                call.method, call.path, params=call.params, json=call.json
            )
        except httpx.HTTPError as exc:
            raise transport_error(self.url, exc) from exc
        return self._parse(call, response)

    async def health(self) -> HealthOut:
        try:
            response = await self._http.get("/health")
        except httpx.HTTPError as exc:
            raise transport_error(self.url, exc) from exc
        if response.status_code in (200, 503):
            return HealthOut.model_validate(response.json())
        raise error_from_response(response)

    async def whoami(self) -> WhoAmI:
        return await self._do(Call("GET", f"{V1}/whoami", WhoAmI.model_validate))

    async def kpi_history(self, since: datetime | None = None, limit: int = 1000) -> pd.DataFrame:
        return model_frame(
            KpiSample,
            await self._do(
                Call("GET", f"{V1}/kpis/history", list, params=query(since=since, limit=limit))
            ),
        )

    async def submit(self, kind: str, spec: dict[str, Any] | None = None, **options: Any) -> Task:
        return await self._do(
            Call("POST", f"{V1}/tasks", Task.model_validate, json=_submit_body(kind, spec, options))
        )

    async def submit_many(self, tasks: list[TaskSubmit | dict[str, Any]]) -> list[Task]:
        return await self._do(Call("POST", f"{V1}/tasks", _tasks_list, json=_batch_body(tasks)))

    async def tasks_page(
        self, *, limit: int = 50, cursor: str | None = None, **filters: Any
    ) -> TaskList:
        return await self._do(
            _tasks_call(query(**_task_filters(**_defaults(filters)), limit=limit, cursor=cursor))
        )

    async def tasks(
        self,
        state: str | TaskState | list[str | TaskState] | None = None,
        *,
        max_rows: int = 1000,
        page_size: int = 200,
        **filters: Any,
    ) -> pd.DataFrame:
        rows: list[dict[str, Any]] = []
        cursor: str | None = None
        base = _task_filters(state, **{k: v for k, v in _defaults(filters).items() if k != "state"})
        while len(rows) < max_rows:
            params = query(**base, limit=min(page_size, max_rows - len(rows)), cursor=cursor)
            page = await self._do(Call("GET", f"{V1}/tasks", dict, params=params))
            rows.extend(page["items"])
            cursor = page.get("next_cursor")
            if not cursor:
                break
        return model_frame(Task, rows)

    async def task(self, task_id: str) -> TaskDetail:
        return await self._do(Call("GET", f"{V1}/tasks/{task_id}", TaskDetail.model_validate))

    async def output(self, task_id: str, stream: str = "stdout", offset: int = 0) -> WorkerOutput:
        return await self._do(
            Call(
                "GET",
                f"{V1}/tasks/{task_id}/output",
                WorkerOutput.model_validate,
                params=query(stream=stream, offset=offset),
            )
        )

    async def cancel(self, task_id: str, reason: str | None = None) -> Task:
        return await self._do(
            Call(
                "POST", f"{V1}/tasks/{task_id}/cancel", Task.model_validate, json={"reason": reason}
            )
        )

    async def act(
        self, task_id: str, action: str, reason: str | None = None, priority: int | None = None
    ) -> Task:
        body = {"action": action, "reason": reason, "priority": priority}
        return await self._do(
            Call("POST", f"{V1}/tasks/{task_id}/actions", Task.model_validate, json=body)
        )

    async def workers(self) -> pd.DataFrame:
        return model_frame(
            WorkerInfo, (await self._do(Call("GET", f"{V1}/workers", dict)))["items"]
        )

    async def audit_page(
        self, *, limit: int = 100, cursor: str | None = None, **filters: Any
    ) -> AuditPage:
        return await self._do(
            Call(
                "GET",
                f"{V1}/audit",
                AuditPage.model_validate,
                params=query(
                    **_audit_filters(**_defaults_audit(filters)), limit=limit, cursor=cursor
                ),
            )
        )

    async def verify_audit(self) -> ChainReportOut:
        return await self._do(Call("GET", f"{V1}/audit/verify", ChainReportOut.model_validate))

    async def wait(self, task_id: str, timeout: float = 60.0) -> Task:
        """Until the task is terminal (watching its events); ``RequestTimeout`` past ``timeout``."""
        try:
            async with asyncio.timeout(timeout):
                await self.task(task_id)  # NotFound early; the committed terminal event decides
                async for ev in self.stream_events(after=0, resource_id=task_id):
                    if ev.action in TERMINAL_ACTIONS:
                        return (await self.task(task_id)).task
        except TimeoutError:
            pass
        raise RequestTimeout(
            f"task {task_id} not finished after {timeout:g} s", details={"task_id": task_id}
        )

    async def _sse(
        self, path: str, params: QueryParams, last_id: str | None, reconnect: Reconnect
    ) -> AsyncIterator[SseMessage]:
        while True:
            headers = {"Accept": "text/event-stream"}
            if last_id is not None:
                headers["Last-Event-ID"] = last_id
            try:
                async with self._http.stream(
                    "GET", path, params=params, headers=headers, timeout=STREAM_TIMEOUT
                ) as response:
                    if response.status_code >= 400:
                        await response.aread()
                        raise error_from_response(response)
                    decoder = SseDecoder()
                    async for line in response.aiter_lines():
                        msg = decoder.feed(line)
                        if msg is None:
                            continue
                        reconnect.connected()
                        if msg.retry is not None:
                            reconnect.delay = msg.retry / 1000
                        if msg.id is not None:
                            last_id = msg.id
                        yield msg
            except httpx.HTTPError as exc:
                if not reconnect.enabled:
                    raise transport_error(self.url, exc) from exc
            if not reconnect.enabled:
                return
            await asyncio.sleep(reconnect.next_delay())  # reconnect backoff, not a wait for work

    async def stream_metrics(
        self,
        *,
        last_event_id: int | None = None,
        reconnect: bool = True,
        max_reconnects: int | None = None,
    ) -> AsyncIterator[dict[str, Any]]:
        policy = Reconnect(enabled=reconnect, max_attempts=max_reconnects)
        start = None if last_event_id is None else str(last_event_id)
        async for msg in self._sse(f"{V1}/metrics/stream", [], start, policy):
            if msg.event == "kpi":
                yield {"snapshot_id": int(msg.id or 0), **json.loads(msg.data)}

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
        policy = Reconnect(enabled=reconnect, max_attempts=max_reconnects)
        params = _events_params(resource_type, resource_id, action, actor)
        start = None if after is None else str(after)
        async for msg in self._sse(f"{V1}/events/stream", params, start, policy):
            yield Event.model_validate_json(msg.data)
