"""The assistant against a real fleet: a worker process registers, chat submits and cancels work."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from agency.client import AgencyClient
from agency.models import TaskState
from agency.testing import ADMIN, Stack, WorkerProc, serve, wait_for
from tests.api.planes import LIMITS

WORKER_TOKEN = "worker-secret-for-chat-tests"


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, WorkerProc]]:
    with serve(
        tmp_path_factory.mktemp("fleet"), worker_token=WORKER_TOKEN, poll_interval=0.5, **LIMITS
    ) as srv:
        # stopped with the stack
        worker = srv.add_worker(
            tmp_path_factory.mktemp("w"), capacity=2, worker_id="chat-w1", sandbox="off"
        )
        yield srv, worker


def test_workers_submit_and_cancel_through_chat(fleet: tuple[Stack, WorkerProc]) -> None:
    stack, _ = fleet
    with AgencyClient(stack.url, ADMIN) as client:
        wait_for(
            lambda: "chat-w1" in set(client.workers().get("id", [])), 20, "the worker registered"
        )
        sid = client.create_session(title="fleet").session_id
        with client.chat(sid) as chat:
            answer = chat.ask("/workers")
            assert "chat-w1" in answer and "healthy" in answer and "/2" in answer
            done = re.search(r"submitted task (\w+)", chat.ask("/submit shell echo from-chat"))
            assert done, "no task id"
            task = client.wait(done.group(1), timeout=30)
            assert task.state is TaskState.SUCCEEDED and task.created_by == "admin"
            assert done.group(1) in chat.ask("/tasks succeeded")
            long = re.search(
                r"submitted task (\w+)", chat.ask('/submit shell {"argv": ["sleep", "30"]}')
            )
            assert long, "no task id"
            wait_for(
                lambda: client.task(long.group(1)).task.state is TaskState.RUNNING,
                20,
                "the sleep started",
            )
            assert re.match(
                rf"task {long.group(1)} is (cancel_requested|canceling|canceled)",
                chat.ask(f"/cancel {long.group(1)} stop it"),
            )
            assert client.wait(long.group(1), timeout=30).state is TaskState.CANCELED
            status = chat.ask("/status")
            assert "active workers" in status
