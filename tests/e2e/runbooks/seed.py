"""Seed a running control plane with tasks in the states the runbooks look at, and with
schedules whose runs were missed, skipped for overlap and failed (``schedule_review``).

No labels: task labels are placement constraints matched against worker labels.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from agency.client import AgencyClient
from agency.models import ScheduleFireOut, SkipReason, Task
from agency.testing import Stack


@dataclass(frozen=True)
class Seeded:
    """The ids of the seeded tasks, by what happened to them."""

    succeeded: str
    failed: str
    canceled: str
    stuck: str


def _until_state(
    client: AgencyClient, task_id: str, states: set[str], timeout: float = 30.0
) -> Task:
    deadline = time.monotonic() + timeout
    while True:
        task = client.task(task_id).task
        if task.state.value in states:
            return task
        if time.monotonic() > deadline:
            raise TimeoutError(f"task {task_id} is {task.state.value}, not in {sorted(states)}")
        time.sleep(0.05)


def seed(client: AgencyClient) -> Seeded:
    """A success, a failure after one retry, a cancellation, and a task left running (stuck)."""
    ok = client.submit("shell", {"argv": ["echo", "hello from a runbook test"]})
    bad = client.submit("noop", {"exit_code": 3}, retry={"max_attempts": 2, "backoff": 0.0})
    doomed = client.submit("noop", {"sleep": 600})
    stuck = client.submit("noop", {"sleep": 3600})
    _until_state(client, doomed.id, {"running"})
    client.cancel(doomed.id, reason="seeded cancellation")
    for task_id in (ok.id, bad.id, doomed.id):
        client.wait(task_id, timeout=60)
    _until_state(client, stuck.id, {"running"})
    return Seeded(succeeded=ok.id, failed=bad.id, canceled=doomed.id, stuck=stuck.id)


#: the runbook stack's misfire grace: a slot later than this was missed (the default is 60 s)
MISFIRE_GRACE = 1.0
YEARLY = "0 0 1 1 *"  # never due during a test: these schedules fire only when triggered


def _fires_until(
    client: AgencyClient,
    ref: str,
    check: Callable[[list[ScheduleFireOut]], bool],
    timeout: float = 30.0,
) -> None:
    deadline = time.monotonic() + timeout
    while not check(client.schedule_fires_page(ref, limit=500).items):
        if time.monotonic() > deadline:
            raise TimeoutError(f"schedule {ref}: the fires expected did not come")
        time.sleep(0.1)


def seed_schedules(stack: Stack) -> None:
    """A schedule whose run failed, one whose second run was skipped for overlap, and one
    whose slots were missed while the scheduler was down (stopped and started again, as a
    restart of the control plane would; the stack's misfire grace is ``MISFIRE_GRACE``)."""
    with stack.client() as client:
        failing = {"kind": "noop", "spec": {"exit_code": 3}, "retry": {"max_attempts": 1}}
        client.create_schedule("seed-failing", YEARLY, failing)
        client.wait(str(client.trigger_schedule("seed-failing").task_id), timeout=60)

        client.create_schedule(
            "seed-overlap", YEARLY, {"kind": "noop", "spec": {"sleep": 600}}, overlap="forbid"
        )
        first = client.trigger_schedule("seed-overlap")
        assert client.trigger_schedule("seed-overlap").skipped_reason is SkipReason.OVERLAP
        client.cancel(str(first.task_id), reason="seeded overlap run")
        client.wait(str(first.task_id), timeout=60)

        client.create_schedule("seed-missed", "* * * * * *", {"kind": "noop"}, catchup="skip")
        _fires_until(client, "seed-missed", lambda items: any(f.task_id for f in items))
        scheduler = stack.plane.schedules
        stack.call(scheduler.stop)
        time.sleep(MISFIRE_GRACE + 2.5)  # down past the grace: the slots in between are missed
        stack.call(scheduler.start)
        _fires_until(
            client,
            "seed-missed",
            lambda items: any(f.skipped_reason is SkipReason.MISSED for f in items),
        )
        client.pause_schedule("seed-missed", "seeded")
