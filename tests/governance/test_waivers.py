"""Waiver rules: only rejected tasks, a reason always, a second operator decides, once."""

from __future__ import annotations

import pytest

from agency.errors import Conflict, Forbidden, ValidationFailed
from agency.governance import decide_waiver, request_waiver
from agency.models import Task, TaskState, WaiverState, check_transition


def rejected() -> Task:
    return Task(
        id="t1", kind="noop", spec={}, state=TaskState.REJECTED, verdict="changes_requested"
    )


def test_request_then_second_operator_approves() -> None:
    w = request_waiver(rejected(), "alice", "  generated file, marker is intended  ")
    assert (w.task_id, w.requested_by, w.state, w.reason) == (
        "t1",
        "alice",
        WaiverState.REQUESTED,
        "generated file, marker is intended",
    )
    assert w.id
    d = decide_waiver(w, "bob", True, "agreed")
    assert (d.state, d.decided_by, d.decision_reason) == (WaiverState.APPROVED, "bob", "agreed")
    assert d.decided_at is not None and w.state is WaiverState.REQUESTED  # the input is untouched
    check_transition(TaskState.REJECTED, TaskState.SUCCEEDED)  # what the orchestrator applies


def test_same_operator_refused() -> None:
    w = request_waiver(rejected(), "alice", "reason")
    with pytest.raises(Forbidden, match="different operator"):
        decide_waiver(w, "alice", True, "self-approve")
    with pytest.raises(Forbidden):
        decide_waiver(w, " ALICE ", False, "case and spaces do not make another person")


def test_denial_and_no_second_decision() -> None:
    w = request_waiver(rejected(), "alice", "reason")
    d = decide_waiver(w, "bob", False, "fix the file")
    assert d.state is WaiverState.DENIED
    with pytest.raises(Conflict, match="already denied"):
        decide_waiver(d, "carol", True, "overrule")


@pytest.mark.parametrize("state", [s for s in TaskState if s is not TaskState.REJECTED])
def test_only_rejected_tasks(state: TaskState) -> None:
    with pytest.raises(Conflict, match="only a rejected task"):
        request_waiver(Task(id="t", kind="noop", spec={}, state=state), "alice", "reason")


def test_reasons_and_actors_required() -> None:
    with pytest.raises(ValidationFailed, match="reason"):
        request_waiver(rejected(), "alice", "   ")
    with pytest.raises(ValidationFailed, match="actor"):
        request_waiver(rejected(), "", "reason")
    w = request_waiver(rejected(), "alice", "reason")
    with pytest.raises(ValidationFailed, match="reason"):
        decide_waiver(w, "bob", True, "")


def test_one_pending_request_per_task() -> None:
    first = request_waiver(rejected(), "alice", "reason")
    with pytest.raises(Conflict, match="pending waiver"):
        request_waiver(rejected(), "bob", "me too", existing=[first])
    denied = decide_waiver(first, "bob", False, "no")
    assert (
        request_waiver(rejected(), "alice", "second try", existing=[denied]).state
        is WaiverState.REQUESTED
    )
