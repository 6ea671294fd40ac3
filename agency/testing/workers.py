"""Real ``agency worker`` processes on 127.0.0.1.

    from agency.testing import start_worker
    w = start_worker(tmp_path, capacity=2, token="t")   # waits for /health
    httpx.post(w.url + "/task", json={...}, headers=w.headers)
    w.stop()                                             # SIGTERM, then SIGKILL

The process gets a clean environment (no ``AGENCY_*`` from the caller), its own data dir and
a log file (``w.log``) that is printed when it fails to start.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from agency.testing.ports import free_port
from agency.testing.processes import clean_env
from agency.testing.waiting import START_TIMEOUT, wait_healthy

__all__ = ["FINAL_STATES", "WorkerProc", "start_worker", "wait_state", "worker_env", "worker_task"]

#: the states in which a worker's task is over (the worker protocol's, ``lost`` included)
FINAL_STATES = frozenset({"succeeded", "failed", "canceled", "lost"})


@dataclass
class WorkerProc:
    """A running ``agency worker`` subprocess."""

    proc: subprocess.Popen[bytes]
    port: int
    data_dir: Path
    log: Path
    token: str | None = None
    worker_id: str = ""
    env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    @property
    def pid(self) -> int:
        return self.proc.pid

    def client(self, timeout: float = 10.0) -> httpx.Client:
        """An HTTP client on the worker's protocol API, with its token."""
        return httpx.Client(base_url=self.url, headers=self.headers, timeout=timeout)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM (the worker cancels its tasks and exits), SIGKILL if it takes too long."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return int(self.proc.returncode)

    def kill(self) -> None:
        """SIGKILL the worker alone (not its tasks): a crash, for restart tests."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def read_log(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def worker_env(data_dir: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The caller's environment without ``AGENCY_*``, plus a data dir and quick defaults."""
    return clean_env(
        {
            "AGENCY_DATA_DIR": str(data_dir),
            "AGENCY_LOG_LEVEL": "WARNING",
            "AGENCY_CANCEL_GRACE": "2",
            **(extra or {}),
        }
    )


def start_worker(
    data_dir: Path,
    *,
    port: int | None = None,
    token: str | None = None,
    capacity: int | None = None,
    labels: str | None = None,
    roots: str | None = None,
    control_plane: str | None = None,
    worker_id: str | None = None,
    sandbox: str | None = None,
    env: dict[str, str] | None = None,
    timeout: float = START_TIMEOUT,
) -> WorkerProc:
    """Start ``python -m agency.worker`` (= ``agency worker``) with these flags and wait until
    it is healthy. ``env`` adds ``AGENCY_*`` settings (``{"AGENCY_FAULT_FAIL_FIRST": "3"}``)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    worker_id = worker_id or f"test-worker-{port}"
    # `python -m agency.worker` is `agency worker` without importing the whole CLI
    argv = [sys.executable, "-m", "agency.worker", "--port", str(port), "--id", worker_id]
    flags = {
        "--token": token,
        "--capacity": capacity,
        "--labels": labels,
        "--roots": roots,
        "--control-plane": control_plane,
        "--sandbox": sandbox,
    }
    for flag, value in flags.items():
        if value is not None:
            argv += [flag, str(value)]
    full_env = worker_env(data_dir, env)
    log = data_dir / f"worker-{port}.log"
    with log.open("ab") as out:
        proc = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, env=full_env, cwd=data_dir
        )
    worker = WorkerProc(proc, port, data_dir, log, token, worker_id, full_env)
    try:
        wait_healthy(worker.url, timeout, proc)
    except Exception as exc:
        worker.kill()
        raise RuntimeError(
            f"agency worker did not start: {exc}\n--- log ---\n{worker.read_log()}"
        ) from exc
    return worker


def wait_state(
    client: httpx.Client,
    task_id: str,
    states: set[str] | frozenset[str] = FINAL_STATES,
    timeout: float = 20.0,
) -> dict[str, Any]:
    """Poll ``GET /task/{id}`` on a worker until its state is in ``states`` (default: final)."""
    deadline = time.monotonic() + timeout
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        body = client.get(f"/task/{task_id}").json()
        if body.get("state") in states:
            return body
        time.sleep(0.02)
    raise AssertionError(f"task {task_id} not in {sorted(states)} after {timeout}s: {body}")


def worker_task(worker: WorkerProc, task_id: str) -> dict[str, Any]:
    """The worker's own view of a task (``GET /task/{id}``)."""
    with worker.client() as c:
        body: dict[str, Any] = c.get(f"/task/{task_id}").json()
        return body
