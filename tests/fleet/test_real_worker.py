"""WorkerClient and Registry against real ``agency worker`` processes on 127.0.0.1."""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agency.errors import InvalidSpec, WorkerRejected
from agency.fleet import Registry, WorkerClient
from agency.models import WorkerRegistration, WorkerTaskRequest, WorkerTaskState, WorkerTaskStatus
from agency.testing import WorkerProc, start_worker

TOKEN = "fleet-test-token"


@pytest.fixture(scope="module")
def worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerProc]:
    w = start_worker(
        tmp_path_factory.mktemp("w"), token=TOKEN, capacity=2, labels="zone=eu", sandbox="off"
    )
    yield w
    w.stop()


@pytest.fixture(scope="module")
def flaky_worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerProc]:
    w = start_worker(
        tmp_path_factory.mktemp("flaky"), sandbox="off", env={"AGENCY_FAULT_FAIL_FIRST": "3"}
    )
    yield w
    w.stop()


async def wait_terminal(
    client: WorkerClient, task_id: str, timeout: float = 20.0
) -> WorkerTaskStatus:
    deadline = time.monotonic() + timeout
    while True:
        st = await client.task_status(task_id)
        if st.state.terminal:
            return st
        if time.monotonic() > deadline:
            raise AssertionError(f"{task_id} still {st.state} after {timeout}s")
        await asyncio.sleep(0.05)


async def test_task_runs_and_exit_code_and_output_come_back(
    worker: WorkerProc, make_settings: Any, http_client: str
) -> None:
    client = WorkerClient("w", worker.url, make_settings(http_client=http_client), token=TOKEN)
    task_id = f"echo-{http_client}"
    script = (
        "import sys; print('hello from the worker'); print('oops', file=sys.stderr); sys.exit(3)"
    )
    try:
        st = await client.submit(
            WorkerTaskRequest(
                task_id=task_id, kind="shell", spec={"argv": [sys.executable, "-c", script]}
            )
        )
        assert st.task_id == task_id and st.attempt == 1
        final = await wait_terminal(client, task_id)
        assert final.state is WorkerTaskState.FAILED and final.exit_code == 3
        out = await client.output(task_id)
        assert out.data == "hello from the worker\n" and out.eof
        err = await client.output(task_id, stream="stderr")
        assert err.data == "oops\n"
        tail = await client.output(task_id, offset=6)
        assert tail.data == "from the worker\n"
        # a repeated POST of the same task and attempt is the same run, not a second process
        again = await client.submit(
            WorkerTaskRequest(
                task_id=task_id, kind="shell", spec={"argv": [sys.executable, "-c", script]}
            )
        )
        assert again.pid == st.pid and again.state is WorkerTaskState.FAILED
        status = await client.status()
        assert status.labels == {"zone": "eu"} and status.capacity == 2
    finally:
        await client.aclose()


async def test_noop_round_trip_and_cancel(worker: WorkerProc, make_settings: Any) -> None:
    client = WorkerClient("w", worker.url, make_settings(), token=TOKEN)
    try:
        st = await client.submit(WorkerTaskRequest(task_id="noop-1", kind="noop", spec={}))
        assert (await wait_terminal(client, "noop-1")).state is WorkerTaskState.SUCCEEDED
        assert st.kind == "noop"
        await client.submit(WorkerTaskRequest(task_id="slow-1", kind="noop", spec={"sleep": 60}))
        canceled = await client.cancel("slow-1")
        assert canceled.state in (WorkerTaskState.CANCELING, WorkerTaskState.CANCELED)
        assert (await wait_terminal(client, "slow-1")).state is WorkerTaskState.CANCELED
    finally:
        await client.aclose()


async def test_fail_first_drill_is_retried_and_the_task_runs_once(
    flaky_worker: WorkerProc, make_settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="agency.fleet")
    client = WorkerClient("flaky", flaky_worker.url, make_settings(retry_attempts=4))
    try:
        st = await client.submit(
            WorkerTaskRequest(
                task_id="once", kind="shell", spec={"argv": [sys.executable, "-c", "print(1)"]}
            )
        )
        final = await wait_terminal(client, "once")
        assert final.state is WorkerTaskState.SUCCEEDED and final.pid == st.pid
        assert (await client.output("once")).data == "1\n"  # ran once: one line of output
    finally:
        await client.aclose()
    lines = [
        r
        for r in caplog.records
        if r.getMessage().startswith("worker_call ") and r.task_id == "once"
    ]  # type: ignore[attr-defined]
    assert [(r.attempt, r.outcome) for r in lines[:4]] == [  # type: ignore[attr-defined]
        (1, "503"),
        (2, "503"),
        (3, "503"),
        (4, "201"),
    ]


async def test_bad_spec_and_bad_token_are_not_retried(
    worker: WorkerProc, make_settings: Any
) -> None:
    good = WorkerClient("w", worker.url, make_settings(retry_attempts=4), token=TOKEN)
    anon = WorkerClient("w", worker.url, make_settings(retry_attempts=4), token="wrong")
    try:
        with pytest.raises(InvalidSpec) as err:
            await good.submit(WorkerTaskRequest(task_id="bad", kind="shell", spec={"argv": []}))
        assert err.value.details["attempts"] == 1
        with pytest.raises(WorkerRejected) as rejected:
            await anon.status()
        assert rejected.value.details["status"] == 401 and rejected.value.details["attempts"] == 1
        assert good.breaker_state == "closed" and anon.recent_failures == 0
    finally:
        await good.aclose()
        await anon.aclose()


async def test_registry_drives_real_worker(
    worker: WorkerProc, make_settings: Any, tmp_path: Path
) -> None:
    registry = Registry(make_settings(worker_token=TOKEN))
    try:
        await registry.register(
            WorkerRegistration(
                id="w", url=worker.url, kinds=["noop", "shell"], capacity=2, labels={"zone": "eu"}
            )
        )
        [chosen] = registry.candidates("noop", {"zone": "eu"})
        registry.reserve(chosen.id)
        st = await registry.client(chosen.id).submit(
            WorkerTaskRequest(task_id="via-reg", kind="noop")
        )
        assert st.task_id == "via-reg"
        assert registry.get("w").running == 1
        assert await registry.client("w").health()
        registry.release("w")
    finally:
        await registry.aclose()
