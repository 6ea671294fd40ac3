"""Registration, heartbeats and reports reach a (tiny, real) control plane, and are retried
while it is away or failing; the worker keeps working meanwhile."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from agency.models import WorkerHeartbeat, WorkerRegistration, WorkerReport
from agency.testing import Receiver, WorkerProc, free_port, wait_state

QUICK = {"AGENCY_HEARTBEAT_INTERVAL": "0.2"}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rx = Receiver(free_port())
    yield rx
    rx.stop()


def reports(rx: Receiver, task_id: str) -> list[str]:
    """States reported for ``task_id``, in the order they arrived."""
    out = []
    for r in rx.find("/reports"):
        report = WorkerReport.model_validate(r.body)
        if report.status.task_id == task_id:
            out.append(report.status.state.value)
    return out


def test_register_heartbeat_and_report(
    start: Callable[..., WorkerProc], receiver: Receiver
) -> None:
    receiver.start()
    w = start(
        control_plane=receiver.url, token="tok", labels="zone=eu,gpu=none", capacity=3, env=QUICK
    )
    receiver.wait_for(lambda: len(receiver.find("/heartbeat")) >= 2)
    reg_request = receiver.find("/api/v1/workers/register")[0]
    assert reg_request.headers["Authorization"] == "Bearer tok"
    reg = WorkerRegistration.model_validate(reg_request.body)
    assert (reg.id, reg.url, reg.capacity) == (w.worker_id, w.url, 3)
    assert reg.labels == {"zone": "eu", "gpu": "none"} and reg.kinds == ["agent", "noop", "shell"]
    hb = receiver.find("/heartbeat")[0]
    assert hb.path == f"/api/v1/workers/{w.worker_id}/heartbeat"
    assert WorkerHeartbeat.model_validate(hb.body).id == w.worker_id
    with w.client() as c:
        c.post("/task", json={"task_id": "r1", "kind": "shell", "spec": {"argv": ["sleep", "0.3"]}})
        wait_state(c, "r1")
    receiver.wait_for(lambda: "succeeded" in reports(receiver, "r1"))
    states = reports(receiver, "r1")
    assert states[-1] == "succeeded" and set(states) <= {"running", "succeeded"}
    report = receiver.find("/reports")[0]
    assert report.path == f"/api/v1/workers/{w.worker_id}/reports"
    assert report.headers["Authorization"] == "Bearer tok"


def test_reports_wait_for_a_control_plane_that_is_away(
    start: Callable[..., WorkerProc], receiver: Receiver
) -> None:
    w = start(control_plane=receiver.url, env=QUICK)  # nothing listens there yet
    with w.client() as c:
        for i in range(5):
            # a sleeping noop runs (and reports) like a process; an instant one is answered inline
            assert (
                c.post(
                    "/task", json={"task_id": f"n{i}", "kind": "noop", "spec": {"sleep": 0.01}}
                ).status_code
                == 201
            )
            assert wait_state(c, f"n{i}")["state"] == "succeeded"  # a slot is free again
        c.post("/task", json={"task_id": "s", "kind": "shell", "spec": {"argv": ["echo", "kept"]}})
        assert wait_state(c, "s")["state"] == "succeeded"
    deadline = time.monotonic() + 20
    while "register to" not in w.read_log() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "failed (attempt" in w.read_log()  # it retried while the control plane was away
    receiver.start()
    receiver.wait_for(
        lambda: all(reports(receiver, t) for t in ("n0", "n1", "n2", "n3", "n4", "s"))
    )
    assert receiver.requests[0].path.endswith("/register")
    assert reports(receiver, "s")[-1] == "succeeded"
    with w.client() as c:
        assert c.get("/task/s/output").json()["data"] == "kept\n"


def test_failing_answers_are_retried_and_a_forgotten_worker_registers_again(
    start: Callable[..., WorkerProc], receiver: Receiver
) -> None:
    receiver.fail("/register", 503, times=3)
    receiver.fail("/reports", 502, times=2)
    receiver.fail("/heartbeat", 404, times=1)  # "who are you?": the control plane restarted
    receiver.start()
    w = start(control_plane=receiver.url, env=QUICK)
    with w.client() as c:
        c.post("/task", json={"task_id": "r", "kind": "noop", "spec": {"sleep": 0.01}})
    receiver.wait_for(lambda: "succeeded" in reports(receiver, "r"))
    assert len(receiver.find("/register", status=503)) == 3
    assert len(receiver.find("/reports", status=502)) == 2
    receiver.wait_for(
        lambda: len(receiver.find("/register")) >= 2
    )  # registered again after the 404
    assert reports(receiver, "r") == ["succeeded"]


def test_an_answer_given_inline_is_not_pushed_again(
    start: Callable[..., WorkerProc], receiver: Receiver
) -> None:
    receiver.start()
    w = start(control_plane=receiver.url, env=QUICK)
    with w.client() as c:
        answer = c.post("/task", json={"task_id": "inline", "kind": "noop"}).json()
        assert answer["state"] == "succeeded"  # the submit's answer carries the final state
        c.post("/task", json={"task_id": "later", "kind": "noop", "spec": {"sleep": 0.01}})
        assert c.get("/task/inline").json()["state"] == "succeeded"  # what a poll would find
    receiver.wait_for(lambda: "succeeded" in reports(receiver, "later"))
    # reports go out in order: had "inline" been queued, it would have been sent before "later"
    assert reports(receiver, "inline") == []
