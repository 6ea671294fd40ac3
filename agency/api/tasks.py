"""Tasks: submit (one or a batch), list with filters and cursor paging, show, output,
cancel, operator actions, bulk cancel with a dry run, and the queue's pause/resume."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Body, Depends, Path, Query

from agency.api.deps import Principal, get_plane, require
from agency.api.handlers import ERROR_RESPONSES
from agency.control import ControlPlane
from agency.control.tasks import BulkFilter, SortField, TaskQuery
from agency.models import Role, Task, TaskState, WorkerOutput
from agency.models.api import (
    ActionIn,
    BulkCancelIn,
    BulkCancelOut,
    CancelIn,
    QueueIn,
    QueueOut,
    SubmitBody,
    TaskBatch,
    TaskDetail,
    TaskList,
    TaskRow,
)

router = APIRouter(prefix="/api/v1", tags=["tasks"], responses=ERROR_RESPONSES)

TaskId = Annotated[str, Path(min_length=1, max_length=128, description="Task id.")]
_SORT_FIELDS: dict[str, SortField] = {
    "created_at": "created_at",
    "updated_at": "updated_at",
    "priority": "priority",
}
SortKey = Literal["created_at", "-created_at", "updated_at", "-updated_at", "priority", "-priority"]


@router.post("/tasks", status_code=201, response_model=Task | list[Task])
async def submit(
    payload: Annotated[
        SubmitBody,
        Body(description='One task, a batch `{"tasks": [...]}`, or the bare list `[...]`.'),
    ],
    plane: ControlPlane = Depends(get_plane),
    who: Principal = Depends(require(Role.OPERATOR, scoped=True)),
) -> Task | list[Task]:
    """Submit one task (answered with it) or a batch (answered with the list, same order).

    A batch lands in one transaction. A task whose ``idempotency_key`` was seen before is
    answered with the existing task instead of a new one. ``parent_id`` makes it a child of
    that task; a task's own token (``AGENCY_TOKEN``) submits only children of its task.
    """
    if isinstance(payload, TaskBatch):
        return await plane.tasks.submit_many(payload.tasks, who.name, who.scope)
    if isinstance(payload, list):  # the bare list: the batch without its wrapper
        return await plane.tasks.submit_many(payload, who.name, who.scope)
    return await plane.tasks.submit(payload, who.name, who.scope)


@router.get("/tasks", response_model=TaskList)
async def list_tasks(
    state: Annotated[
        list[TaskState] | None, Query(description="Repeat for several states.")
    ] = None,
    kind: Annotated[str | None, Query(max_length=64)] = None,
    worker: Annotated[str | None, Query(max_length=128, description="Worker id.")] = None,
    label: Annotated[
        str | None, Query(pattern=r"^[^=]+=.*$", max_length=400, description="`key=value`")
    ] = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
    text: Annotated[
        str | None, Query(max_length=200, description="Matches id, kind and spec text.")
    ] = None,
    parent_id: Annotated[
        str | None, Query(min_length=1, max_length=128, description="The children of this task.")
    ] = None,
    sort: Annotated[SortKey, Query(description="Field, `-` for descending.")] = "-created_at",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[
        str | None, Query(max_length=1000, description="`next_cursor` of the previous page.")
    ] = None,
    plane: ControlPlane = Depends(get_plane),
    who: Principal = Depends(require(Role.VIEWER, scoped=True)),
) -> TaskList:
    """Tasks matching every given filter, one page at a time (keyset cursor), each agent
    task with its ``usage`` (tokens, cost). A task token lists children only: of its own
    task by default, or of a task in its subtree."""
    if who.scope is not None:
        parent_id = parent_id or who.scope
        await plane.lineage.require_within(who.scope, parent_id)
    query = TaskQuery(
        states=list(state) if state else None,
        kind=kind,
        worker_id=worker,
        label=label,
        created_after=created_after,
        created_before=created_before,
        text=text,
        parent_id=parent_id,
        sort=_SORT_FIELDS[sort.lstrip("-")],
        descending=sort.startswith("-"),
        limit=limit,
        cursor=cursor,
    )
    page, usage = await plane.tasks.page_with_usage(query)
    # the stored tasks are valid already: built without validating them a second time
    rows = [TaskRow.model_construct(**dict(t), usage=usage.get(t.id)) for t in page.items]
    return TaskList(items=rows, next_cursor=page.next_cursor)


@router.get("/tasks/{task_id}", response_model=TaskDetail)
async def show(
    task_id: TaskId,
    plane: ControlPlane = Depends(get_plane),
    who: Principal = Depends(require(Role.VIEWER, scoped=True)),
) -> TaskDetail:
    """The task, its attempts, its event timeline, an agent task's usage and session, and
    the ids of its children (``task.parent_id`` names its parent)."""
    await plane.lineage.require_within(who.scope, task_id)
    history = await plane.tasks.history(task_id)
    return TaskDetail(
        task=history.task,
        attempts=history.attempts,
        timeline=history.timeline,
        usage=history.usage,
        session_id=history.session_id,
        children=list(history.children),
    )


@router.get("/tasks/{task_id}/output", response_model=WorkerOutput)
async def output(
    task_id: TaskId,
    stream: Literal["stdout", "stderr"] = "stdout",
    offset: Annotated[int, Query(ge=0)] = 0,
    plane: ControlPlane = Depends(get_plane),
    who: Principal = Depends(require(Role.VIEWER, scoped=True)),
) -> WorkerOutput:
    """A piece of the task's output from ``offset``: live from the worker, stored once finished."""
    await plane.lineage.require_within(who.scope, task_id)
    return await plane.tasks.output(task_id, stream, offset)


@router.post("/tasks/{task_id}/cancel", response_model=Task)
async def cancel(
    task_id: TaskId,
    body: CancelIn | None = None,
    plane: ControlPlane = Depends(get_plane),
    who: Principal = Depends(require(Role.OPERATOR)),
) -> Task:
    """Cancel a task (idempotent): queued ones at once, running ones through their worker."""
    return await plane.tasks.cancel(task_id, who.name, body.reason if body else None)


@router.post("/tasks/{task_id}/actions", response_model=Task)
async def act(
    task_id: TaskId,
    body: ActionIn,
    plane: ControlPlane = Depends(get_plane),
    who: Principal = Depends(require(Role.OPERATOR)),
) -> Task:
    """pause, resume, retry, abort (forced cancel) or reprioritize (needs ``priority``);
    resume of an agent task paused at its budget may raise ``max_cost_usd``/``max_turns``."""
    raised = {k: v for k in ("max_cost_usd", "max_turns") if (v := getattr(body, k)) is not None}
    return await plane.tasks.act(
        task_id, body.action, who.name, body.reason, body.priority, raised=raised
    )


@router.post("/tasks/bulk-cancel", response_model=BulkCancelOut)
async def bulk_cancel(
    body: BulkCancelIn,
    plane: ControlPlane = Depends(get_plane),
    who: Principal = Depends(require(Role.OPERATOR)),
) -> BulkCancelOut:
    """Cancel every unfinished task matching the filter; ``dry_run`` (the default) only counts."""
    flt = BulkFilter(
        states=body.states,
        worker_id=body.worker_id,
        label=body.label,
        older_than_s=body.older_than_s,
    )
    result = await plane.tasks.bulk_cancel(flt, who.name, dry_run=body.dry_run, reason=body.reason)
    return BulkCancelOut(count=result.count, task_ids=list(result.task_ids), dry_run=result.dry_run)


@router.get("/queue", response_model=QueueOut)
async def queue(
    plane: ControlPlane = Depends(get_plane), who: Principal = Depends(require(Role.VIEWER))
) -> QueueOut:
    """Whether dispatching is paused."""
    return QueueOut(paused=plane.tasks.queue_paused)


@router.post("/queue/pause", response_model=QueueOut)
async def pause_queue(
    body: QueueIn | None = None,
    plane: ControlPlane = Depends(get_plane),
    who: Principal = Depends(require(Role.OPERATOR)),
) -> QueueOut:
    """Stop dispatching (running tasks go on); audited."""
    await plane.tasks.pause_queue(who.name, body.reason if body else None)
    return QueueOut(paused=plane.tasks.queue_paused)


@router.post("/queue/resume", response_model=QueueOut)
async def resume_queue(
    body: QueueIn | None = None,
    plane: ControlPlane = Depends(get_plane),
    who: Principal = Depends(require(Role.OPERATOR)),
) -> QueueOut:
    """Dispatch again; audited."""
    await plane.tasks.resume_queue(who.name, body.reason if body else None)
    return QueueOut(paused=plane.tasks.queue_paused)
