"""A real control plane in this process: ``create_app`` under uvicorn on a free 127.0.0.1 port
(in a thread with its own event loop), over a DuckDB file in a temporary directory, optionally
with real ``agency worker`` processes registered through the API.

    from agency.testing import serve
    with serve(tmp_path, workers=1) as stack:
        with stack.http() as http:          # httpx, admin token
            http.post("/api/v1/tasks", json={"kind": "noop"})
        stack.burst()                       # until nothing is dispatchable or in flight

``Stack.call`` runs a coroutine on the server's loop, so a test can reach the ``ControlPlane``
(create tokens, raise alerts) the way a request handler would.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import uvicorn
from fastapi import FastAPI

from agency.api.app import create_app
from agency.client import AgencyClient, ClientSettings
from agency.control import ControlPlane
from agency.models import Role
from agency.settings import Settings
from agency.testing.ports import free_port
from agency.testing.workers import WorkerProc, start_worker

__all__ = ["ADMIN", "WORKER", "Stack", "serve"]

T = TypeVar("T")
#: the admin and worker tokens ``serve`` configures (its settings can name others)
ADMIN = "admin-secret-for-tests"
WORKER = "worker-secret-for-tests"


@dataclass
class Stack:
    """A running control plane (and its workers)."""

    url: str
    settings: Settings
    loop: asyncio.AbstractEventLoop
    app: FastAPI
    workers: list[WorkerProc] = field(default_factory=list)
    secrets: dict[str, str] = field(default_factory=dict)

    @property
    def ws_url(self) -> str:
        """The base URL for WebSockets (``ws://...``)."""
        return "ws" + self.url.removeprefix("http")

    @property
    def plane(self) -> ControlPlane:
        plane: ControlPlane = self.app.state.plane
        return plane

    def call(self, make: Callable[[], Awaitable[T]], timeout: float = 60.0) -> T:
        """Run a coroutine on the server's loop and wait for its result."""

        async def run() -> T:
            return await make()

        fut: Future[T] = asyncio.run_coroutine_threadsafe(run(), self.loop)
        return fut.result(timeout)

    def token(self, name: str, role: Role) -> str:
        """A real API token, created once per name through the server's TokenBook."""
        if name not in self.secrets:
            book = self.plane.tokens
            _, secret = self.call(lambda: book.create(name, role, "tests"))
            self.secrets[name] = secret
        return self.secrets[name]

    def http(self, token: str | None = ADMIN) -> httpx.Client:
        """An httpx client on the API with ``token`` (``None``: anonymous)."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30.0)

    def client(self, token: str | None = ADMIN) -> AgencyClient:
        """An ``AgencyClient`` with ``token``, its files under the stack's data dir."""
        return AgencyClient(
            self.url, token, settings=ClientSettings(data_dir=self.settings.data_dir)
        )

    def burst(self, timeout: float = 60.0) -> None:
        """Wait until nothing is dispatchable or in flight (the orchestrator's burst mode)."""
        orch = self.plane.tasks
        self.call(lambda: orch.run_burst(timeout), timeout + 5)

    def add_worker(
        self,
        data_dir: Path,
        capacity: int = 4,
        *,
        labels: str | None = None,
        sandbox: str | None = None,
        env: dict[str, str] | None = None,
        worker_id: str | None = None,
    ) -> WorkerProc:
        """Start a real worker that registers with this control plane (with the stack's worker
        token); wait until it has. It is stopped with the stack."""
        w = start_worker(
            data_dir,
            token=self.settings.worker_token,
            capacity=capacity,
            control_plane=self.url,
            labels=labels,
            sandbox=sandbox,
            env=env,
            worker_id=worker_id,
        )
        self.workers.append(w)
        deadline = time.monotonic() + 30
        with self.http() as http:
            while time.monotonic() < deadline:
                ids = [x["id"] for x in http.get("/api/v1/workers").json()["items"]]
                if w.worker_id in ids:
                    return w
                time.sleep(0.05)
        raise TimeoutError(f"worker {w.worker_id} did not register\n{w.read_log()}")


def _settings(data_dir: Path, port: int, overrides: dict[str, Any]) -> Settings:
    """Quick, permissive settings for tests; ``overrides`` win."""
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "port": port,
        "workers": 0,
        "dashboard": False,
        "admin_token": ADMIN,
        "worker_token": WORKER,
        "rate_limit": 10_000.0,
        "keystore": "env",
        "url": f"http://127.0.0.1:{port}",
        "poll_interval": 0.5,
        "sse_ping_interval": 0.5,
        "cancel_grace": 2.0,
    }
    values.update(overrides)
    return Settings(**values)


@contextmanager
def serve(data_dir: Path, *, workers: int = 0, **overrides: Any) -> Iterator[Stack]:
    """Start the control plane (and ``workers`` local workers); stop everything on exit.

    ``overrides`` are ``Settings`` fields (``port`` included); the rest are quick defaults.
    """
    port = overrides.pop("port", None) or free_port()
    settings = _settings(data_dir, port, overrides)
    app = create_app(settings)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="on",
            timeout_graceful_shutdown=2,
        )
    )
    loop = asyncio.new_event_loop()
    failure: list[BaseException] = []

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(server.serve())
        except BaseException as exc:
            failure.append(exc)
        finally:
            # stream helpers (sse-starlette's shutdown watcher) may outlive the server: end them
            leftovers = asyncio.all_tasks(loop)
            for task in leftovers:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*leftovers, return_exceptions=True))
            loop.close()

    thread = threading.Thread(target=run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30.0
    while not server.started:
        if failure or not thread.is_alive():
            raise RuntimeError(f"the control plane did not start: {failure}")
        if time.monotonic() > deadline:
            raise TimeoutError("the control plane did not start within 30 s")
        time.sleep(0.02)
    stack = Stack(url=f"http://127.0.0.1:{port}", settings=settings, loop=loop, app=app)
    try:
        for i in range(workers):
            stack.add_worker(data_dir / f"worker-{i}")
        yield stack
    finally:
        for w in stack.workers:
            w.stop()
        server.should_exit = True
        thread.join(timeout=30.0)
        if thread.is_alive():
            raise RuntimeError("the control plane did not stop")
