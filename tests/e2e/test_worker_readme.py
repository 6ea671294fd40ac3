"""A worker started exactly as the docs show gets work (issue 14, item 1).

The control plane runs with its own ``AGENCY_WORKER_TOKEN``; the worker gets a different,
database-issued token from the real CLI (``agency token create --role worker``) and is
started as ``agency worker --port P --control-plane URL --token T``. The control plane calls
it with the secret the worker handed over in its registration, so no setting is shared.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from agency.models import Role
from agency.testing import ADMIN, Stack, free_port, serve, wait_healthy, worker_env

AGENCY = str(Path(sys.executable).with_name("agency"))


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    with serve(tmp_path / "cp") as s:
        yield s


def cli(*args: str, url: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENCY_")}
    env.update({"AGENCY_URL": url, "AGENCY_TOKEN": ADMIN})
    done = subprocess.run(
        [AGENCY, *args], env=env, capture_output=True, text=True, timeout=60, check=True
    )
    return done.stdout


def worker_token(url: str) -> str:
    """The README's way: the secret is the last line ``agency token create`` prints."""
    out = cli("token", "create", "--role", "worker", "--name", "w1", url=url)
    return out.strip().splitlines()[-1]


def wait_worker(http: httpx.Client, worker_id: str, timeout: float = 30.0) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for w in http.get("/api/v1/workers").json()["items"]:
            if w["id"] == worker_id and w["health"] == "healthy":
                return dict(w)
        time.sleep(0.05)
    raise TimeoutError(f"worker {worker_id} not healthy")


def wait_terminal(http: httpx.Client, ids: list[str], timeout: float = 60.0) -> dict[str, str]:
    deadline = time.monotonic() + timeout
    states: dict[str, str] = {}
    while time.monotonic() < deadline:
        states = {i: http.get(f"/api/v1/tasks/{i}").json()["task"]["state"] for i in ids}
        if all(s in ("succeeded", "failed", "canceled") for s in states.values()):
            return states
        time.sleep(0.1)
    raise AssertionError(f"tasks not terminal: {states}")


def test_worker_started_the_readme_way_runs_tasks(stack: Stack, tmp_path: Path) -> None:
    token = worker_token(stack.url)
    assert token != stack.settings.worker_token
    port = free_port()
    data = tmp_path / "worker"
    data.mkdir()
    argv = [AGENCY, "worker", "--port", str(port), "--control-plane", stack.url, "--token", token]
    log = (data / "worker.log").open("wb")
    proc = subprocess.Popen(argv, env=worker_env(data), stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_healthy(f"http://127.0.0.1:{port}", proc=proc)
        with stack.http() as http:
            wait_worker(http, f"{socket.gethostname()}-{port}")
            ids = [
                http.post(
                    "/api/v1/tasks", json={"kind": "shell", "spec": {"argv": ["echo", str(n)]}}
                ).json()["id"]
                for n in range(5)
            ]
            assert set(wait_terminal(http, ids).values()) == {"succeeded"}
            # and nobody else can drive the worker: neither anonymous nor the control
            # plane's own shared token
            for bad in (None, stack.settings.worker_token):
                headers = {"Authorization": f"Bearer {bad}"} if bad else {}
                status = httpx.get(f"http://127.0.0.1:{port}/status", headers=headers)
                assert status.status_code == 401
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()


def test_worker_that_refuses_every_call_goes_unhealthy(stack: Stack, tmp_path: Path) -> None:
    good = stack.add_worker(tmp_path / "good", capacity=2)
    with stack.http() as http, stack.http(stack.token("liar", Role.WORKER)) as liar:
        wait_worker(http, good.worker_id)
        # registered at the good worker's URL with a secret that worker never heard of: every
        # call the control plane makes there is refused 401; more capacity, so chosen first
        reg = {
            "id": "liar",
            "url": good.url,
            "kinds": ["shell", "noop"],
            "capacity": 8,
            "secret": "not-the-secret-of-that-worker",
        }
        assert liar.post("/api/v1/workers/register", json=reg).status_code == 200
        ids = [
            http.post(
                "/api/v1/tasks", json={"kind": "shell", "spec": {"argv": ["echo", str(n)]}}
            ).json()["id"]
            for n in range(5)
        ]
        assert set(wait_terminal(http, ids).values()) == {"succeeded"}
        runs = {http.get(f"/api/v1/tasks/{i}").json()["task"]["worker_id"] for i in ids}
        assert runs == {good.worker_id}
        workers = {w["id"]: w for w in http.get("/api/v1/workers").json()["items"]}
        assert workers["liar"]["health"] == "unhealthy"
        assert "refuses the control plane's credential" in workers["liar"]["health_reason"]
        assert "401" in workers["liar"]["health_reason"]
        # a heartbeat (it is alive) does not put it back in rotation
        hb = liar.post("/api/v1/workers/liar/heartbeat", json={"id": "liar"})
        assert hb.json()["health"] == "unhealthy"
        alerts = http.get("/api/v1/alerts").json()
        assert any(a["kind"] == "worker-refuses" for a in alerts)
