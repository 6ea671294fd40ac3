"""Fault drills of a real worker: 503 to the first N requests, latency, dropped connections."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx

from agency.testing import WorkerProc


def test_the_first_n_requests_get_503_then_work_resumes(start: Callable[..., WorkerProc]) -> None:
    w = start(env={"AGENCY_FAULT_FAIL_FIRST": "3"})  # /health (the start probe) is exempt
    with w.client() as c:
        answers = [c.post("/task", json={"task_id": "t", "kind": "noop"}) for _ in range(3)]
        assert [a.status_code for a in answers] == [503, 503, 503]
        assert answers[0].json()["error"]["code"] == "service_unavailable"
        ok = c.post("/task", json={"task_id": "t", "kind": "noop"})
        assert ok.status_code == 201  # the task was created once, by the first answered call
        assert c.post("/task", json={"task_id": "t", "kind": "noop"}).status_code == 200


def test_latency_is_added_to_every_request(start: Callable[..., WorkerProc]) -> None:
    w = start(env={"AGENCY_FAULT_LATENCY_MS": "300"})
    with w.client() as c:
        c.get("/status")  # warm the connection
        began = time.perf_counter()
        assert c.get("/status").status_code == 200
        assert time.perf_counter() - began >= 0.3


def test_dropped_connections_get_no_answer(start: Callable[..., WorkerProc]) -> None:
    w = start(env={"AGENCY_FAULT_DROP_RATE": "1.0"})
    for _ in range(3):
        try:
            resp = httpx.post(w.url + "/task", json={"task_id": "x", "kind": "noop"}, timeout=5)
        except (httpx.RemoteProtocolError, httpx.ReadError) as exc:
            assert "disconnected" in str(exc).lower() or isinstance(exc, httpx.ReadError)
        else:
            raise AssertionError(f"a dropped connection answered {resp.status_code}")
    assert httpx.get(w.url + "/health").status_code == 200
    assert w.alive()
