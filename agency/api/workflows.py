"""Workflows: runs (submit, list, show, cancel, retry, approve, reject, replay) and saved
definitions with revisions. A run's ``version`` is its ``ETag``; an action may name the
version it saw in its body (409 when stale) or in ``If-Match`` (412 when stale)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Path, Query, Response

from agency.api.deps import Principal, get_plane, require
from agency.api.handlers import ERROR_RESPONSES, ErrorBody
from agency.control import ControlPlane
from agency.errors import BadRequest
from agency.models import Role
from agency.models.workflows import (
    RunActionIn,
    RunState,
    StepDecisionIn,
    Workflow,
    WorkflowDetail,
    WorkflowList,
    WorkflowReplay,
    WorkflowRun,
    WorkflowRunIn,
    WorkflowRunList,
    WorkflowRunParams,
    WorkflowSpec,
)

router = APIRouter(prefix="/api/v1", tags=["workflows"], responses=ERROR_RESPONSES)

RunId = Annotated[str, Path(min_length=1, max_length=100)]
StepId = Annotated[str, Path(min_length=1, max_length=100)]
Name = Annotated[str, Path(min_length=1, max_length=200)]
IfMatch = Annotated[
    str | None,
    Header(alias="If-Match", description="The run version seen (its ETag); 412 if stale."),
]


#: the answer of an action whose ``If-Match`` names a stale version
STALE: dict[int | str, dict[str, object]] = {
    412: {"model": ErrorBody, "description": "If-Match names a stale version of the run."}
}


def _if_match(value: str | None) -> int | None:
    """The version an ``If-Match`` header names (``"3"``, ``W/"3"`` or ``3``)."""
    if value is None:
        return None
    text = value.strip().removeprefix("W/").strip('"')
    if not text.isdigit():
        raise BadRequest(
            f"If-Match must name a run version (a number), not {value!r}",
            details={"field": "If-Match"},
        )
    return int(text)


def _tagged(run: WorkflowRun, response: Response) -> WorkflowRun:
    response.headers["ETag"] = f'"{run.version}"'
    return run


@router.post("/workflows/runs", status_code=201, response_model=WorkflowRun)
async def submit_run(
    body: WorkflowRunIn,
    response: Response,
    plane: ControlPlane = Depends(get_plane),
    who: Principal = Depends(require(Role.OPERATOR)),
) -> WorkflowRun:
    """Run a definition given whole; a cycle, an unknown ``needs``, a reference to a step not
    needed or an unknown param is a 422 whose details name the step and the field."""
    spec = WorkflowSpec.model_validate(body.model_dump())
    return _tagged(await plane.workflows.submit(spec, who.name), response)


@router.get("/workflows/runs", response_model=WorkflowRunList)
async def list_runs(
    state: RunState | None = None,
    name: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    plane: ControlPlane = Depends(get_plane),
    who: Principal = Depends(require(Role.VIEWER)),
) -> WorkflowRunList:
    """Runs, newest first, optionally in one state or of one workflow."""
    return WorkflowRunList(items=await plane.workflows.find(state=state, name=name, limit=limit))


@router.get("/workflows/runs/{run_id}", response_model=WorkflowRun)
async def show_run(
    run_id: RunId,
    response: Response,
    plane: ControlPlane = Depends(get_plane),
    who: Principal = Depends(require(Role.VIEWER)),
) -> WorkflowRun:
    """A run: its state, version (also the ETag) and steps with their tasks."""
    return _tagged(await plane.workflows.get(run_id), response)


@router.post("/workflows/runs/{run_id}/cancel", response_model=WorkflowRun, responses=STALE)
async def cancel_run(
    run_id: RunId,
    response: Response,
    body: RunActionIn | None = None,
    if_match: IfMatch = None,
    plane: ControlPlane = Depends(get_plane),
    who: Principal = Depends(require(Role.OPERATOR)),
) -> WorkflowRun:
    """Cancel every running step's tasks (visibly) and every step not started."""
    b = body or RunActionIn()
    run = await plane.workflows.cancel(
        run_id, who.name, b.reason, version=b.version, if_match=_if_match(if_match)
    )
    return _tagged(run, response)


@router.post(
    "/workflows/runs/{run_id}/steps/{step_id}/retry", response_model=WorkflowRun, responses=STALE
)
async def retry_step(
    run_id: RunId,
    step_id: StepId,
    response: Response,
    body: RunActionIn | None = None,
    if_match: IfMatch = None,
    plane: ControlPlane = Depends(get_plane),
    who: Principal = Depends(require(Role.OPERATOR)),
) -> WorkflowRun:
    """Run a failed or canceled step again (a new attempt), and the steps after it."""
    b = body or RunActionIn()
    run = await plane.workflows.retry(
        run_id, step_id, who.name, b.reason, version=b.version, if_match=_if_match(if_match)
    )
    return _tagged(run, response)


async def _decide(
    plane: ControlPlane,
    who: Principal,
    run_id: str,
    step_id: str,
    body: StepDecisionIn,
    if_match: str | None,
    approve: bool,
) -> WorkflowRun:
    return await plane.workflows.decide(
        run_id,
        step_id,
        who.name,
        who.role,
        approve,
        body.reason,
        version=body.version,
        if_match=_if_match(if_match),
    )


@router.post(
    "/workflows/runs/{run_id}/steps/{step_id}/approve", response_model=WorkflowRun, responses=STALE
)
async def approve_step(
    run_id: RunId,
    step_id: StepId,
    body: StepDecisionIn,
    response: Response,
    if_match: IfMatch = None,
    plane: ControlPlane = Depends(get_plane),
    who: Principal = Depends(require(Role.OPERATOR)),
) -> WorkflowRun:
    """Approve a step waiting for it (audited, with the reason): its tasks are submitted.
    The submitter may not approve a step that asks for a second person (403)."""
    run = await _decide(plane, who, run_id, step_id, body, if_match, True)
    return _tagged(run, response)


@router.post(
    "/workflows/runs/{run_id}/steps/{step_id}/reject", response_model=WorkflowRun, responses=STALE
)
async def reject_step(
    run_id: RunId,
    step_id: StepId,
    body: StepDecisionIn,
    response: Response,
    if_match: IfMatch = None,
    plane: ControlPlane = Depends(get_plane),
    who: Principal = Depends(require(Role.OPERATOR)),
) -> WorkflowRun:
    """Reject a step waiting for approval (audited, with the reason): the step fails."""
    run = await _decide(plane, who, run_id, step_id, body, if_match, False)
    return _tagged(run, response)


@router.get("/workflows/runs/{run_id}/replay", response_model=WorkflowReplay)
async def replay_run(
    run_id: RunId,
    plane: ControlPlane = Depends(get_plane),
    who: Principal = Depends(require(Role.VIEWER)),
) -> WorkflowReplay:
    """The run rebuilt from its events in the hash chain, compared with the stored run."""
    return await plane.workflows.replay(run_id)


@router.post("/workflows", status_code=201, response_model=Workflow)
async def save_workflow(
    body: WorkflowSpec,
    plane: ControlPlane = Depends(get_plane),
    who: Principal = Depends(require(Role.OPERATOR)),
) -> Workflow:
    """Save a definition under its name (a new revision if the name exists)."""
    return await plane.workflows.save_definition(body, who.name)


@router.get("/workflows", response_model=WorkflowList)
async def list_workflows(
    plane: ControlPlane = Depends(get_plane),
    who: Principal = Depends(require(Role.VIEWER)),
) -> WorkflowList:
    """Every saved definition at its latest revision, by name."""
    return WorkflowList(items=await plane.workflows.definitions())


@router.get("/workflows/{name}", response_model=WorkflowDetail)
async def show_workflow(
    name: Name,
    plane: ControlPlane = Depends(get_plane),
    who: Principal = Depends(require(Role.VIEWER)),
) -> WorkflowDetail:
    """A saved definition with every revision."""
    return await plane.workflows.definition(name)


@router.post("/workflows/{name}/run", status_code=201, response_model=WorkflowRun)
async def run_workflow(
    name: Name,
    response: Response,
    body: WorkflowRunParams | None = None,
    plane: ControlPlane = Depends(get_plane),
    who: Principal = Depends(require(Role.OPERATOR)),
) -> WorkflowRun:
    """Run the latest revision of a saved definition, ``params`` over its defaults."""
    params = body.params if body else {}
    return _tagged(await plane.workflows.run_saved(name, params, who.name), response)
