"""Every endpoint of tasks, the queue, workers, audit, waivers, tokens, health, runbook runs
and schedules, described once; and the requests the client methods make of them.

Each builder takes a method's arguments and returns the ``Call`` (or ``Stream``, or
``Pages``) that ``AgencyClient`` and ``AsyncAgencyClient`` both send, so a request is written
here and nowhere else. Chat, saved queries and alerts are in ``agency.client.chat``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from agency.client.frames import model_frame, rows, schedule_frame
from agency.client.settings import current_task
from agency.client.sse import Reconnect, SseMessage, Stream
from agency.client.wire import V1, Call, Endpoint, QueryParams, many, model, query
from agency.errors import RequestTimeout
from agency.models import (
    ActionIn,
    AuditPage,
    BulkCancelIn,
    BulkCancelOut,
    CancelIn,
    ChainReportOut,
    Event,
    HealthOut,
    KpiSample,
    QueueIn,
    QueueOut,
    ReplayOut,
    RunbookRun,
    RunbookRunIn,
    ScheduleEdit,
    ScheduleFireOut,
    ScheduleFirePage,
    ScheduleIn,
    ScheduleList,
    SchedulePreview,
    SchedulePreviewIn,
    ScheduleReason,
    ScheduleView,
    Task,
    TaskBatch,
    TaskDetail,
    TaskList,
    TaskRow,
    TaskState,
    TaskSubmit,
    TokenCreated,
    TokenCreateIn,
    TokenOut,
    TokenRotateIn,
    Waiver,
    WaiverDecisionIn,
    WaiverRequestIn,
    WhoAmI,
    WorkerActionIn,
    WorkerAttachIn,
    WorkerInfo,
    WorkerList,
    WorkerOutput,
)
from agency.models.runs import (
    BudgetIn,
    BudgetList,
    BudgetOut,
    ChangesOut,
    StoredTranscriptItem,
    TranscriptOut,
)
from agency.models.timeline import WorkerTimeline

if TYPE_CHECKING:
    import pandas as pd


def _paused(data: Any) -> bool:
    return QueueOut.model_validate(data).paused


def _nothing(_: Any) -> None:
    return None


# --- the table: method, path ({} per id, quoted), answer, body model -------------------------
HEALTH = Endpoint("GET", "/health", model(HealthOut), also_ok=frozenset({503}))
METRICS = Endpoint("GET", "/metrics", str, decode="text")
WHOAMI = Endpoint("GET", f"{V1}/whoami", model(WhoAmI))
KPI_HISTORY = Endpoint("GET", f"{V1}/kpis/history", rows(KpiSample))
SUBMIT = Endpoint("POST", f"{V1}/tasks", model(Task), TaskSubmit)
SUBMIT_MANY = Endpoint("POST", f"{V1}/tasks", many(Task), TaskBatch)
TASKS = Endpoint("GET", f"{V1}/tasks", model(TaskList))
TASK = Endpoint("GET", f"{V1}/tasks/{{}}", model(TaskDetail))
OUTPUT = Endpoint("GET", f"{V1}/tasks/{{}}/output", model(WorkerOutput))
CANCEL = Endpoint("POST", f"{V1}/tasks/{{}}/cancel", model(Task), CancelIn)
ACT = Endpoint("POST", f"{V1}/tasks/{{}}/actions", model(Task), ActionIn)
BULK_CANCEL = Endpoint("POST", f"{V1}/tasks/bulk-cancel", model(BulkCancelOut), BulkCancelIn)
REPLAY = Endpoint("GET", f"{V1}/tasks/{{}}/replay", model(ReplayOut))
QUEUE = Endpoint("GET", f"{V1}/queue", _paused)
PAUSE_QUEUE = Endpoint("POST", f"{V1}/queue/pause", _paused, QueueIn)
RESUME_QUEUE = Endpoint("POST", f"{V1}/queue/resume", _paused, QueueIn)
WORKERS = Endpoint("GET", f"{V1}/workers", model(WorkerList))
ATTACH_WORKER = Endpoint("POST", f"{V1}/workers", model(WorkerInfo), WorkerAttachIn)
DRAIN_WORKER = Endpoint("POST", f"{V1}/workers/{{}}/drain", model(WorkerInfo), WorkerActionIn)
REMOVE_WORKER = Endpoint("DELETE", f"{V1}/workers/{{}}", model(WorkerInfo))
WORKER_TIMELINE = Endpoint("GET", f"{V1}/workers/timeline", model(WorkerTimeline))
AUDIT = Endpoint("GET", f"{V1}/audit", model(AuditPage))
VERIFY_AUDIT = Endpoint("GET", f"{V1}/audit/verify", model(ChainReportOut))
WAIVERS = Endpoint("GET", f"{V1}/waivers", rows(Waiver))
REQUEST_WAIVER = Endpoint("POST", f"{V1}/waivers", model(Waiver), WaiverRequestIn)
DECIDE_WAIVER = Endpoint("POST", f"{V1}/waivers/{{}}/decide", model(Waiver), WaiverDecisionIn)
TOKENS = Endpoint("GET", f"{V1}/tokens", rows(TokenOut))
CREATE_TOKEN = Endpoint("POST", f"{V1}/tokens", model(TokenCreated), TokenCreateIn)
REVOKE_TOKEN = Endpoint("DELETE", f"{V1}/tokens/{{}}", model(TokenOut))
ROTATE_TOKEN = Endpoint("POST", f"{V1}/tokens/{{}}/rotate", model(TokenCreated), TokenRotateIn)
RECORD_RUNBOOK_RUN = Endpoint("POST", f"{V1}/runbooks/runs", model(RunbookRun), RunbookRunIn)
RUNBOOK_RUNS = Endpoint("GET", f"{V1}/runbooks/runs", rows(RunbookRun))
TRANSCRIPT = Endpoint("GET", f"{V1}/tasks/{{}}/transcript", model(TranscriptOut))
CHANGES = Endpoint("GET", f"{V1}/tasks/{{}}/changes", model(ChangesOut))
BUDGETS = Endpoint("GET", f"{V1}/budgets", model(BudgetList))
BUDGET = Endpoint("GET", f"{V1}/budgets/{{}}", model(BudgetOut))
CREATE_BUDGET = Endpoint("POST", f"{V1}/budgets", model(BudgetOut), BudgetIn)
DELETE_BUDGET = Endpoint("DELETE", f"{V1}/budgets/{{}}", model(BudgetOut))
TRANSCRIPT_STREAM = f"{V1}/tasks/{{}}/transcript/stream"
SCHEDULES = Endpoint("GET", f"{V1}/schedules", schedule_frame)
CREATE_SCHEDULE = Endpoint("POST", f"{V1}/schedules", model(ScheduleView), ScheduleIn)
PREVIEW_SCHEDULE = Endpoint(
    "POST", f"{V1}/schedules/preview", model(SchedulePreview), SchedulePreviewIn
)
SCHEDULE = Endpoint("GET", f"{V1}/schedules/{{}}", model(ScheduleView))
EDIT_SCHEDULE = Endpoint("PATCH", f"{V1}/schedules/{{}}", model(ScheduleView), ScheduleEdit)
DELETE_SCHEDULE = Endpoint("DELETE", f"{V1}/schedules/{{}}", _nothing, decode="text")
PAUSE_SCHEDULE = Endpoint("POST", f"{V1}/schedules/{{}}/pause", model(ScheduleView), ScheduleReason)
RESUME_SCHEDULE = Endpoint(
    "POST", f"{V1}/schedules/{{}}/resume", model(ScheduleView), ScheduleReason
)
TRIGGER_SCHEDULE = Endpoint(
    "POST", f"{V1}/schedules/{{}}/trigger", model(ScheduleFireOut), ScheduleReason
)
SCHEDULE_FIRES = Endpoint("GET", f"{V1}/schedules/{{}}/fires", model(ScheduleFirePage))
EVENTS_STREAM = f"{V1}/events/stream"
METRICS_STREAM = f"{V1}/metrics/stream"

TERMINAL_ACTIONS = frozenset(f"task.{s.value}" for s in TaskState if s.terminal)
TASK_FILTERS = (
    "state",
    "kind",
    "worker",
    "label",
    "created_after",
    "created_before",
    "text",
    "parent_id",
)
AUDIT_FILTERS = ("action", "actor", "resource_type", "resource_id", "since", "until")


# --- tasks -------------------------------------------------------------------------------------
def submit(kind: str, spec: dict[str, Any] | None, options: dict[str, Any]) -> Call[Task]:
    return SUBMIT.call(body=_delegated_body({"kind": kind, "spec": spec or {}, **options}))


def submit_many(tasks: list[TaskSubmit | dict[str, Any]]) -> Call[list[Task]]:
    return SUBMIT_MANY.call(body={"tasks": [_delegated(t) for t in tasks]})


def _delegated(task: TaskSubmit | dict[str, Any]) -> TaskSubmit | dict[str, Any]:
    """Inside a task (``AGENCY_TASK_ID``) a submission without ``parent_id`` is that task's
    child; an explicit ``parent_id`` (``None`` included) is left as given."""
    if not isinstance(task, TaskSubmit):
        return _delegated_body(task)
    parent = current_task()
    if parent is None or "parent_id" in task.model_fields_set:
        return task
    return task.model_copy(update={"parent_id": parent})


def _delegated_body(body: dict[str, Any]) -> dict[str, Any]:
    parent = current_task()
    return body if parent is None or "parent_id" in body else {**body, "parent_id": parent}


def task_filters(
    state: str | TaskState | list[str | TaskState] | None = None,
    kind: str | None = None,
    worker: str | None = None,
    label: str | None = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
    text: str | None = None,
    sort: str = "-created_at",
    parent_id: str | None = None,
) -> dict[str, Any]:
    """The list filters as query values (one state or several)."""
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
        parent_id=parent_id,
    )


def _known(filters: dict[str, Any], names: tuple[str, ...], what: str) -> dict[str, Any]:
    unknown = set(filters) - set(names)
    if unknown:
        raise TypeError(f"unknown {what} filters: {', '.join(sorted(unknown))}")
    return filters


def tasks_page(limit: int, cursor: str | None, filters: dict[str, Any]) -> Call[TaskList]:
    flt = task_filters(**_known(filters, (*TASK_FILTERS, "sort"), "task"))
    return TASKS.call(params=query(**flt, limit=limit, cursor=cursor))


def task(task_id: str) -> Call[TaskDetail]:
    return TASK.call(task_id)


def children(task_id: str, limit: int) -> Call[list[Task]]:
    """The first ``limit`` (at most 500) children of a task, oldest first."""
    params = query(parent_id=task_id, sort="created_at", limit=limit)
    return TASKS.call_as(_tasks_of, params=params)


def _tasks_of(body: Any) -> list[Task]:
    return list[Task](TaskList.model_validate(body).items)


def timeline(task_id: str) -> Call[pd.DataFrame]:
    return TASK.call_as(rows(Event, "timeline"), task_id)


def transcript(task_id: str) -> Call[TranscriptOut]:
    return TRANSCRIPT.call(task_id)


def transcript_frame(task_id: str) -> Call[pd.DataFrame]:
    return TRANSCRIPT.call_as(rows(StoredTranscriptItem, "items"), task_id)


def changes(task_id: str) -> Call[ChangesOut]:
    return CHANGES.call(task_id)


def budgets() -> Call[BudgetList]:
    return BUDGETS.call()


def budget(budget_id: str) -> Call[BudgetOut]:
    return BUDGET.call(budget_id)


def create_budget(body: dict[str, Any]) -> Call[BudgetOut]:
    return CREATE_BUDGET.call(body=body)


def delete_budget(budget_id: str) -> Call[BudgetOut]:
    return DELETE_BUDGET.call(budget_id)


def output(task_id: str, stream: str, offset: int) -> Call[WorkerOutput]:
    return OUTPUT.call(task_id, params=query(stream=stream, offset=offset))


def cancel(task_id: str, reason: str | None) -> Call[Task]:
    return CANCEL.call(task_id, body={"reason": reason})


def act(
    task_id: str,
    action: str,
    reason: str | None,
    priority: int | None,
    max_cost_usd: float | None = None,
    max_turns: int | None = None,
) -> Call[Task]:
    body: dict[str, Any] = {"action": action, "reason": reason, "priority": priority}
    # only when given: a body without them is what older servers accept
    if max_cost_usd is not None:
        body["max_cost_usd"] = max_cost_usd
    if max_turns is not None:
        body["max_turns"] = max_turns
    return ACT.call(task_id, body=body)


def bulk_cancel(**body: Any) -> Call[BulkCancelOut]:
    return BULK_CANCEL.call(body=body)


def replay(task_id: str) -> Call[ReplayOut]:
    return REPLAY.call(task_id)


def pause_queue(reason: str | None) -> Call[bool]:
    return PAUSE_QUEUE.call(body={"reason": reason})


def resume_queue(reason: str | None) -> Call[bool]:
    return RESUME_QUEUE.call(body={"reason": reason})


# --- workers, audit, waivers, tokens, KPIs ---------------------------------------------------
def workers() -> Call[pd.DataFrame]:
    return WORKERS.call_as(rows(WorkerInfo, "items"))


def worker_list() -> Call[list[WorkerInfo]]:
    return WORKERS.call_as(lambda data: WorkerList.model_validate(data).items)


def attach_worker(body: WorkerAttachIn) -> Call[WorkerInfo]:
    return ATTACH_WORKER.call(body=body.model_dump(mode="json", exclude_none=True))


def drain_worker(worker_id: str, reason: str | None) -> Call[WorkerInfo]:
    return DRAIN_WORKER.call(worker_id, body={"reason": reason})


def remove_worker(worker_id: str, reason: str | None) -> Call[WorkerInfo]:
    return REMOVE_WORKER.call(worker_id, params=query(reason=reason))


def worker_timeline(
    since: datetime | None, until: datetime | None, limit: int
) -> Call[WorkerTimeline]:
    return WORKER_TIMELINE.call(params=query(since=since, until=until, limit=limit))


def audit_filters(**filters: Any) -> dict[str, Any]:
    _known(filters, AUDIT_FILTERS, "audit")
    return {n: filters.get(n) for n in AUDIT_FILTERS}


def audit_page(
    limit: int, cursor: str | None, filters: dict[str, Any], newest_first: bool = False
) -> Call[AuditPage]:
    order = "desc" if newest_first else None  # the server's default is oldest first
    return AUDIT.call(
        params=query(**audit_filters(**filters), limit=limit, cursor=cursor, order=order)
    )


def kpi_history(since: datetime | None, limit: int) -> Call[pd.DataFrame]:
    return KPI_HISTORY.call(params=query(since=since, limit=limit))


def waivers(task_id: str | None, state: str | None) -> Call[pd.DataFrame]:
    return WAIVERS.call(params=query(task_id=task_id, state=state))


def request_waiver(task_id: str, reason: str) -> Call[Waiver]:
    return REQUEST_WAIVER.call(body={"task_id": task_id, "reason": reason})


def decide_waiver(waiver_id: str, approve: bool, reason: str) -> Call[Waiver]:
    return DECIDE_WAIVER.call(waiver_id, body={"approve": approve, "reason": reason})


def create_token(name: str, role: str, expires_at: datetime | None = None) -> Call[TokenCreated]:
    body: dict[str, Any] = {"name": name, "role": str(role)}
    if expires_at is not None:
        body["expires_at"] = expires_at.isoformat()
    return CREATE_TOKEN.call(body=body)


def rotate_token(token_id: str, grace_seconds: float = 3600.0) -> Call[TokenCreated]:
    return ROTATE_TOKEN.call(token_id, body={"grace_seconds": grace_seconds})


def revoke_token(token_id: str) -> Call[TokenOut]:
    return REVOKE_TOKEN.call(token_id)


def record_runbook_run(body: dict[str, Any]) -> Call[RunbookRun]:
    return RECORD_RUNBOOK_RUN.call(body=body)


def runbook_runs(
    name: str | None, actor: str | None, status: str | None, limit: int
) -> Call[pd.DataFrame]:
    # an empty filter is no filter (the CLI passes "" through)
    filters = query(name=name or None, actor=actor or None, status=status or None)
    return RUNBOOK_RUNS.call(params=[*filters, *query(limit=limit)])


# --- schedules ------------------------------------------------------------------------------
def create_schedule(
    name: str, cron: str, task: dict[str, Any] | BaseModel, options: dict[str, Any]
) -> Call[ScheduleView]:
    return CREATE_SCHEDULE.call(body={"name": name, "cron": cron, "task": task, **options})


def schedule_list() -> Call[list[ScheduleView]]:
    return SCHEDULES.call_as(lambda data: ScheduleList.model_validate(data).items)


def schedule(ref: str) -> Call[ScheduleView]:
    return SCHEDULE.call(ref)


def edit_schedule(ref: str, changes: dict[str, Any]) -> Call[ScheduleView]:
    """Only the fields given change (``end_at=None`` clears it); ``task`` is replaced whole."""
    return EDIT_SCHEDULE.call(ref, body=changes)


def delete_schedule(ref: str) -> Call[None]:
    return DELETE_SCHEDULE.call(ref)


def pause_schedule(ref: str, reason: str | None) -> Call[ScheduleView]:
    return PAUSE_SCHEDULE.call(ref, body={"reason": reason})


def resume_schedule(ref: str, reason: str | None) -> Call[ScheduleView]:
    return RESUME_SCHEDULE.call(ref, body={"reason": reason})


def trigger_schedule(ref: str, reason: str | None) -> Call[ScheduleFireOut]:
    return TRIGGER_SCHEDULE.call(ref, body={"reason": reason})


def schedule_fires_page(ref: str, limit: int, cursor: str | None) -> Call[ScheduleFirePage]:
    return SCHEDULE_FIRES.call(ref, params=query(limit=limit, cursor=cursor))


def preview_schedule(cron: str, timezone: str, count: int) -> Call[SchedulePreview]:
    return PREVIEW_SCHEDULE.call(body={"cron": cron, "timezone": timezone, "count": count})


# --- paging, streams and waiting, the same for both clients --------------------------------
@dataclass
class Pages:
    """Cursor paging into one DataFrame of up to ``max_rows`` rows. Both clients run
    ``while (call := pages.next()) is not None: pages.add(<send call>)``, then ``frame()``."""

    endpoint: Endpoint[Any]
    filters: dict[str, Any]
    row_model: type[BaseModel]
    max_rows: int
    page_size: int
    ids: tuple[str, ...] = ()  # of the endpoint's path (a schedule's fires)
    items: list[dict[str, Any]] = field(default_factory=list)
    cursor: str | None = None
    done: bool = False

    def next(self) -> Call[dict[str, Any]] | None:
        if self.done or len(self.items) >= self.max_rows:
            return None
        limit = min(self.page_size, self.max_rows - len(self.items))
        params = query(**self.filters, limit=limit, cursor=self.cursor)
        return self.endpoint.call_as(dict, *self.ids, params=params)

    def add(self, page: dict[str, Any]) -> None:
        self.items.extend(page["items"])
        self.cursor = page.get("next_cursor")
        self.done = not self.cursor

    def frame(self) -> pd.DataFrame:
        return model_frame(self.row_model, self.items)


def task_pages(filters: dict[str, Any], max_rows: int, page_size: int) -> Pages:
    return Pages(TASKS, task_filters(**filters), TaskRow, max_rows, page_size)


def audit_pages(filters: dict[str, Any], max_rows: int, page_size: int) -> Pages:
    return Pages(AUDIT, audit_filters(**filters), Event, max_rows, page_size)


def schedule_fire_pages(ref: str, max_rows: int, page_size: int) -> Pages:
    return Pages(SCHEDULE_FIRES, {}, ScheduleFireOut, max_rows, page_size, (ref,))


def _event(msg: SseMessage) -> Event:
    return Event.model_validate_json(msg.data)


def _kpi(msg: SseMessage) -> dict[str, Any] | None:
    return {"snapshot_id": int(msg.id or 0), **json.loads(msg.data)} if msg.event == "kpi" else None


def event_params(
    resource_type: str | None, resource_id: str | None, action: str | None, actor: str | None
) -> QueryParams:
    return query(
        resource_type=resource_type or "*", resource_id=resource_id, action=action, actor=actor
    )


def event_stream(
    after: int | None, filters: dict[str, str | None], reconnect: bool, max_reconnects: int | None
) -> Stream[Event]:
    """Committed events; ``after`` is the seq to resume after (sent as ``Last-Event-ID``)."""
    return Stream(
        EVENTS_STREAM,
        event_params(**filters),
        _event,
        None if after is None else str(after),
        Reconnect(enabled=reconnect, max_attempts=max_reconnects),
    )


def metrics_stream(
    last_event_id: int | None, reconnect: bool, max_reconnects: int | None
) -> Stream[dict[str, Any]]:
    """KPI snapshots, one a second, each with its ``snapshot_id``."""
    return Stream(
        METRICS_STREAM,
        [],
        _kpi,
        None if last_event_id is None else str(last_event_id),
        Reconnect(enabled=reconnect, max_attempts=max_reconnects),
    )


def _item(msg: SseMessage) -> StoredTranscriptItem | None:
    return StoredTranscriptItem.model_validate_json(msg.data) if msg.event == "item" else None


def transcript_stream(
    task_id: str, after: str | None, reconnect: bool, max_reconnects: int | None
) -> Stream[StoredTranscriptItem]:
    """A task's transcript items as they land, ending once the task has (``event: end``);
    ``after`` is an ``attempt:seq`` position (sent as ``Last-Event-ID``)."""
    return Stream(
        TRANSCRIPT_STREAM.format(task_id),
        [],
        _item,
        after,
        Reconnect(enabled=reconnect, max_attempts=max_reconnects),
        final="end",
    )


def terminal_watch(task_id: str) -> QueryParams:
    """The query of ``wait``'s stream: this task's events from the first. The terminal *event*
    is the signal: it is committed with the task row, whereas a task read may come from the
    orchestrator's memory a moment before the commit."""
    return [*event_params("task", task_id, None, None), ("after", "0")]


def not_finished(task_id: str, timeout: float) -> RequestTimeout:
    return RequestTimeout(
        f"task {task_id} not finished after {timeout:g} s", details={"task_id": task_id}
    )
