"""With the HTTP API: workers register, heartbeat and push reports to a real control plane.

The poll fallback is set to a minute, so tasks that finish within seconds were finished by
the workers' pushed reports. Output is stored when a task ends and outlives its worker.
"""

from __future__ import annotations

from pathlib import Path

from agency.models import Task, TaskState
from agency.testing import assert_replays, serve


def test_pushed_reports_finish_tasks_and_output_outlives_the_worker(tmp_path: Path) -> None:
    with (
        serve(tmp_path, workers=2, poll_interval=60.0, heartbeat_interval=0.5) as stack,
        stack.http() as http,
    ):
        body = {
            "tasks": [
                {"kind": "shell", "spec": {"argv": ["sh", "-c", f"echo out-{i}; sleep 0.2"]}}
                for i in range(8)
            ]
        }
        answer = http.post("/api/v1/tasks", json=body)
        assert answer.status_code in (200, 201), answer.text
        created = answer.json()
        ids = [t["id"] for t in (created["items"] if isinstance(created, dict) else created)]
        assert len(ids) == 8
        stack.burst(timeout=30)  # far below the 60 s poll: reports did it
        orch = stack.plane.tasks
        tasks = [Task.model_validate(stack.call(lambda i=i: orch.get(i))) for i in ids]
        assert {t.state for t in tasks} == {TaskState.SUCCEEDED}
        for w in stack.workers:
            w.stop()  # the output must now come from the database
        for i, task in enumerate(tasks):
            out = stack.call(lambda t=task: orch.output(t.id, "stdout", 0))
            assert out.data.strip() == f"out-{i}" and out.eof
        stack.call(lambda: assert_replays(stack.plane.repos.store, ids))
