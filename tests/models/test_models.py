"""The task lifecycle table, tested exhaustively, and the spec and policy models."""

from __future__ import annotations

import itertools

import pytest

from agency.errors import InvalidSpec, InvalidTransition
from agency.models import (
    IN_FLIGHT_STATES,
    TERMINAL_STATES,
    TRANSITIONS,
    RetryPolicy,
    Role,
    TaskState,
    TaskSubmit,
    can_transition,
    check_transition,
    new_id,
    parse_spec,
)

# The lifecycle as DESIGN.md and issue 4 describe it, written out pair by pair so that a
# change to the table in models.py has to be made here too, on purpose.
LEGAL = {
    ("pending", "dispatched"),
    ("pending", "paused"),
    ("pending", "canceled"),
    ("pending", "failed"),
    ("paused", "pending"),
    ("paused", "canceled"),
    ("paused", "failed"),
    ("dispatched", "running"),
    ("dispatched", "succeeded"),
    ("dispatched", "failed"),
    ("dispatched", "rejected"),
    ("dispatched", "cancel_requested"),
    ("dispatched", "orphaned"),
    ("dispatched", "pending"),
    ("dispatched", "paused"),  # an agent run at its budget with on_budget=pause (issue 17)
    ("running", "paused"),
    ("running", "succeeded"),
    ("running", "failed"),
    ("running", "rejected"),
    ("running", "cancel_requested"),
    ("running", "orphaned"),
    ("cancel_requested", "canceling"),
    ("cancel_requested", "canceled"),
    ("cancel_requested", "succeeded"),
    ("cancel_requested", "failed"),
    ("cancel_requested", "orphaned"),
    ("canceling", "canceled"),
    ("canceling", "succeeded"),
    ("canceling", "failed"),
    ("canceling", "orphaned"),
    ("orphaned", "pending"),
    ("orphaned", "failed"),
    ("orphaned", "canceled"),
    ("failed", "pending"),
    ("canceled", "pending"),
    ("rejected", "succeeded"),
    ("rejected", "pending"),
}


@pytest.mark.parametrize(("src", "dst"), list(itertools.product(TaskState, TaskState)))
def test_every_pair_of_states(src: TaskState, dst: TaskState) -> None:
    expected = (src.value, dst.value) in LEGAL
    assert can_transition(src, dst) is expected
    if expected:
        check_transition(src, dst)
    else:
        with pytest.raises(InvalidTransition) as info:
            check_transition(src, dst)
        assert info.value.status == 409
        assert info.value.details == {"from": src.value, "to": dst.value}


def test_table_covers_every_state_and_terminal_states_are_sinks() -> None:
    assert set(TRANSITIONS) == set(TaskState)
    assert TaskState.SUCCEEDED.terminal and not TaskState.RUNNING.terminal
    # a terminal state only leaves by an explicit operator retry (-> pending) or a waiver
    for state in TERMINAL_STATES:
        assert TRANSITIONS[state] <= {TaskState.PENDING, TaskState.SUCCEEDED}
    assert not TRANSITIONS[TaskState.SUCCEEDED]
    assert IN_FLIGHT_STATES.isdisjoint(TERMINAL_STATES)


def test_a_budget_pause_leaves_flight_and_an_operator_can_resume_it() -> None:
    # paused at the budget: off its worker (not in flight), back to the queue on resume
    for src in (TaskState.DISPATCHED, TaskState.RUNNING):
        assert TaskState.PAUSED in TRANSITIONS[src]
    assert not TaskState.PAUSED.in_flight and not TaskState.PAUSED.terminal
    assert TaskState.PENDING in TRANSITIONS[TaskState.PAUSED]
    assert TaskState.CANCELED in TRANSITIONS[TaskState.PAUSED]


def test_every_non_terminal_state_can_reach_a_terminal_state() -> None:
    for start in TaskState:
        seen, frontier = {start}, [start]
        while frontier:
            for nxt in TRANSITIONS[frontier.pop()]:
                if nxt not in seen:
                    seen.add(nxt)
                    frontier.append(nxt)
        assert seen & TERMINAL_STATES or start.terminal, start


def test_specs_validate_per_kind() -> None:
    assert parse_spec("shell", {"argv": ["echo", "hi"]}).model_dump()["argv"] == ["echo", "hi"]
    with pytest.raises(InvalidSpec, match="unknown task kind"):
        parse_spec("teleport", {})
    with pytest.raises(InvalidSpec, match="argv"):
        parse_spec("shell", {"argv": []})
    with pytest.raises(InvalidSpec, match="shell: Extra inputs are not permitted"):
        parse_spec("shell", {"argv": ["true"], "shell": True})
    with pytest.raises(InvalidSpec, match="prompt"):
        parse_spec("agent", {})
    with pytest.raises(InvalidSpec):
        TaskSubmit(kind="shell", spec={"argv": "echo hi"})


def test_retry_policy_backs_off_and_caps() -> None:
    policy = RetryPolicy(max_attempts=4, backoff=1.0, backoff_max=3.0)
    assert [policy.delay(a) for a in (1, 2, 3, 4)] == [1.0, 2.0, 3.0, 3.0]
    assert not policy.exhausted(3) and policy.exhausted(4)
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts=0)


def test_ids_sort_by_creation_time() -> None:
    ids = [new_id() for _ in range(50)]
    assert len(set(ids)) == 50
    assert all(len(i) == 24 for i in ids)
    assert ids[0][:12] <= ids[-1][:12]


def test_roles_are_ordered_and_workers_apart() -> None:
    assert Role.ADMIN.allows(Role.OPERATOR) and Role.OPERATOR.allows(Role.VIEWER)
    assert not Role.VIEWER.allows(Role.OPERATOR)
    assert not Role.OPERATOR.allows(Role.WORKER) and Role.WORKER.allows(Role.WORKER)
    assert not Role.WORKER.allows(Role.VIEWER)
