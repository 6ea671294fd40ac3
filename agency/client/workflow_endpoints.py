"""Every workflow endpoint, described once, and the requests the workflow methods make.

Both faces (``WorkflowMethods``, ``AsyncWorkflowMethods``) send what these builders return.
An action that names the run version it saw sends it in the body (``version``: a stale one
is a ``VersionConflict``, 409).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agency.client.frames import frame
from agency.client.wire import V1, Call, Endpoint, model, query
from agency.errors import RequestTimeout
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

if TYPE_CHECKING:
    import pandas as pd

#: the columns of ``workflow_runs``'s DataFrame (one row per run)
RUN_COLUMNS = (
    "id",
    "name",
    "state",
    "version",
    "steps",
    "created_by",
    "created_at",
    "finished_at",
    "reason",
)

WORKFLOW_RUNS = Endpoint("GET", f"{V1}/workflows/runs", model(WorkflowRunList))
SUBMIT_WORKFLOW_RUN = Endpoint("POST", f"{V1}/workflows/runs", model(WorkflowRun), WorkflowRunIn)
WORKFLOW_RUN = Endpoint("GET", f"{V1}/workflows/runs/{{}}", model(WorkflowRun))
CANCEL_WORKFLOW_RUN = Endpoint(
    "POST", f"{V1}/workflows/runs/{{}}/cancel", model(WorkflowRun), RunActionIn
)
RETRY_WORKFLOW_STEP = Endpoint(
    "POST", f"{V1}/workflows/runs/{{}}/steps/{{}}/retry", model(WorkflowRun), RunActionIn
)
APPROVE_WORKFLOW_STEP = Endpoint(
    "POST", f"{V1}/workflows/runs/{{}}/steps/{{}}/approve", model(WorkflowRun), StepDecisionIn
)
REJECT_WORKFLOW_STEP = Endpoint(
    "POST", f"{V1}/workflows/runs/{{}}/steps/{{}}/reject", model(WorkflowRun), StepDecisionIn
)
REPLAY_WORKFLOW_RUN = Endpoint("GET", f"{V1}/workflows/runs/{{}}/replay", model(WorkflowReplay))
WORKFLOWS = Endpoint("GET", f"{V1}/workflows", model(WorkflowList))
SAVE_WORKFLOW = Endpoint("POST", f"{V1}/workflows", model(Workflow), WorkflowSpec)
WORKFLOW = Endpoint("GET", f"{V1}/workflows/{{}}", model(WorkflowDetail))
RUN_WORKFLOW = Endpoint("POST", f"{V1}/workflows/{{}}/run", model(WorkflowRun), WorkflowRunParams)


def _definition(spec: Any) -> dict[str, Any]:
    """A definition as plain values: a ``Workflow`` builder, a model or a dict."""
    if hasattr(spec, "to_spec"):
        spec = spec.to_spec()
    if hasattr(spec, "model_dump"):
        dumped: dict[str, Any] = spec.model_dump(mode="json", exclude_unset=False)
        return dumped
    return dict(spec)


def run_frame(data: Any) -> pd.DataFrame:
    """A run list as one row per run; ``steps`` says ``<id>:<state>`` for each step."""
    items = WorkflowRunList.model_validate(data).items
    return frame(
        (
            {
                **r.model_dump(mode="json", include=set(RUN_COLUMNS)),
                "steps": ", ".join(f"{s.id}:{s.state.value}" for s in r.steps),
            }
            for r in items
        ),
        RUN_COLUMNS,
    )


def submit_run(spec: Any, params: dict[str, Any] | None) -> Call[WorkflowRun]:
    body = _definition(spec)
    if params:
        body["params"] = {**body.get("params", {}), **params}
    return SUBMIT_WORKFLOW_RUN.call(body=body)


def run_list(state: RunState | str | None, name: str | None, limit: int) -> Call[list[WorkflowRun]]:
    return WORKFLOW_RUNS.call_as(
        lambda d: WorkflowRunList.model_validate(d).items,
        params=query(state=state, name=name, limit=limit),
    )


def run_rows(state: RunState | str | None, name: str | None, limit: int) -> Call[pd.DataFrame]:
    return WORKFLOW_RUNS.call_as(run_frame, params=query(state=state, name=name, limit=limit))


def run(run_id: str) -> Call[WorkflowRun]:
    return WORKFLOW_RUN.call(run_id)


def _action(reason: str | None, version: int | None) -> dict[str, Any]:
    return {k: v for k, v in (("reason", reason), ("version", version)) if v is not None}


def cancel(run_id: str, reason: str | None, version: int | None) -> Call[WorkflowRun]:
    return CANCEL_WORKFLOW_RUN.call(run_id, body=_action(reason, version))


def retry(run_id: str, step: str, reason: str | None, version: int | None) -> Call[WorkflowRun]:
    return RETRY_WORKFLOW_STEP.call(run_id, step, body=_action(reason, version))


def decide(
    run_id: str, step: str, approve: bool, reason: str, version: int | None
) -> Call[WorkflowRun]:
    endpoint = APPROVE_WORKFLOW_STEP if approve else REJECT_WORKFLOW_STEP
    return endpoint.call(run_id, step, body={"reason": reason, **_action(None, version)})


def replay(run_id: str) -> Call[WorkflowReplay]:
    return REPLAY_WORKFLOW_RUN.call(run_id)


def definitions() -> Call[list[Workflow]]:
    return WORKFLOWS.call_as(lambda d: WorkflowList.model_validate(d).items)


def save(spec: Any) -> Call[Workflow]:
    return SAVE_WORKFLOW.call(body=_definition(spec))


def definition(name: str) -> Call[WorkflowDetail]:
    return WORKFLOW.call(name)


def run_saved(name: str, params: dict[str, Any] | None) -> Call[WorkflowRun]:
    return RUN_WORKFLOW.call(name, body={"params": params or {}})


def not_final(run_id: str, timeout: float) -> RequestTimeout:
    return RequestTimeout(
        f"workflow run {run_id} is not final after {timeout} s",
        details={"run_id": run_id, "timeout": timeout},
    )
