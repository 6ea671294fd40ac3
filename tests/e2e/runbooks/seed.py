"""Seed a running control plane with tasks in the states the runbooks look at.

No labels: task labels are placement constraints matched against worker labels.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from agency.client import AgencyClient
from agency.models import Task


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
