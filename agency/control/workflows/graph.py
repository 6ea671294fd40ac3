"""What a run's steps do next, as pure functions of the run (no I/O, easy to test).

A pending step is decided once every step it needs is final: it starts (or waits for its
approval) when its ``when`` holds, and is skipped otherwise. A run is final once every step
is; it failed when a failed step has no recovery step that ran after it (a step that needs it
with ``when: failed`` or ``always``), or a step was canceled on its own.
"""

from __future__ import annotations

from enum import StrEnum

from agency.models.workflows import (
    RunState,
    StepRun,
    StepState,
    StepWhen,
    WorkflowRun,
    WorkflowStep,
)


class Next(StrEnum):
    """The decision about one pending step."""

    WAIT = "wait"  # a need is not final yet
    START = "start"  # submit its tasks
    APPROVAL = "approval"  # wait for an operator's decision first
    SKIP = "skip"  # its ``when`` does not hold


def decide(run: WorkflowRun, step: WorkflowStep) -> Next:
    """What the pending ``step`` of ``run`` does now."""
    needs = [run.step(n) for n in step.needs]
    if any(not n.state.final for n in needs):
        return Next.WAIT
    states = {n.state for n in needs}
    if step.when is StepWhen.SUCCEEDED:
        holds = states <= {StepState.SUCCEEDED}
    elif step.when is StepWhen.FAILED:
        holds = StepState.FAILED in states
    else:
        holds = True
    if not holds:
        return Next.SKIP
    if step.approval is not None and run.step(step.id).decided_by is None:
        return Next.APPROVAL
    return Next.START


def dependents(run: WorkflowRun, step_id: str) -> list[str]:
    """Every step that needs ``step_id``, directly or not, in definition order."""
    found: set[str] = {step_id}
    changed = True
    while changed:
        changed = False
        for s in run.spec.steps:
            if s.id not in found and found.intersection(s.needs):
                found.add(s.id)
                changed = True
    return [s.id for s in run.spec.steps if s.id in found and s.id != step_id]


def _handled(run: WorkflowRun, failed: StepRun) -> bool:
    return any(
        failed.id in s.needs
        and s.when is not StepWhen.SUCCEEDED
        and run.step(s.id).state not in (StepState.SKIPPED, StepState.PENDING)
        for s in run.spec.steps
    )


def outcome(run: WorkflowRun) -> RunState | None:
    """The run's final state once every step is final (``None`` before)."""
    if any(not s.state.final for s in run.steps):
        return None
    if run.cancel_requested:
        return RunState.CANCELED
    for s in run.steps:
        if s.state is StepState.CANCELED:
            return RunState.FAILED
        if s.state is StepState.FAILED and not _handled(run, s):
            return RunState.FAILED
    return RunState.SUCCEEDED


def live_state(run: WorkflowRun) -> RunState:
    """The state of a run that is not final: waiting for approval when that is all it does."""
    states = {s.state for s in run.steps}
    if StepState.RUNNING in states:
        return RunState.RUNNING
    if StepState.WAITING_APPROVAL in states:
        return RunState.WAITING_APPROVAL
    return RunState.RUNNING
