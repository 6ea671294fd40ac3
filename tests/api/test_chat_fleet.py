"""The assistant against a real fleet: a worker process registers, chat submits and cancels work."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest

from agency.client import AgencyClient
from agency.models import TaskState
from tests.api_chat.conftest import ADMIN, Server, serve
from tests.helpers.procs import WorkerProc, start_worker

WORKER_TOKEN = "worker-secret-for-chat-tests"


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, WorkerProc]]:
    with serve(
        tmp_path_factory.mktemp("fleet"), worker_token=WORKER_TOKEN, poll_interval=0.5
    ) as srv:
        worker = start_worker(
            tmp_path_factory.mktemp("w"),
            token=WORKER_TOKEN,
            control_plane=srv.url,
            capacity=2,
            worker_id="chat-w1",
            sandbox="off",
        )
        try:
            yield srv, worker
        finally:
            worker.stop()


def wait_for(check: object, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} within {timeout}s")
        time.sleep(0.05)


def test_workers_submit_and_cancel_through_chat(fleet: tuple[Server, WorkerProc]) -> None:
    server, _ = fleet
    with AgencyClient(server.url, ADMIN) as client:
        wait_for(lambda: "chat-w1" in set(client.workers().get("id", [])), "the worker registered")
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
                "the sleep started",
            )
            assert re.match(
                rf"task {long.group(1)} is (cancel_requested|canceling|canceled)",
                chat.ask(f"/cancel {long.group(1)} stop it"),
            )
            assert client.wait(long.group(1), timeout=30).state is TaskState.CANCELED
            status = chat.ask("/status")
            assert "active workers" in status
