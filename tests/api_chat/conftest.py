"""A real control plane for the chat, saved-query and alert tests.

``create_app`` runs under uvicorn on a free 127.0.0.1 port in a thread with its own event
loop, over a real DuckDB file in a temporary directory. ``Server.call`` runs a coroutine on
that loop, so tests can create tokens or raise alerts through the real control plane.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import uvicorn

from agency.api.app import create_app
from agency.control import ControlPlane
from agency.models import Role
from agency.settings import Settings

T = TypeVar("T")
ADMIN = "admin-secret-for-tests"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    """A running control plane: its URL, settings, loop and control plane."""

    url: str
    settings: Settings
    loop: asyncio.AbstractEventLoop
    app: Any
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def ws_url(self) -> str:
        return "ws" + self.url.removeprefix("http")

    @property
    def plane(self) -> ControlPlane:
        plane: ControlPlane = self.app.state.plane
        return plane

    def call(self, make: Callable[[], Awaitable[T]], timeout: float = 30.0) -> T:
        """Run a coroutine on the server's loop and wait for its result."""

        async def run() -> T:
            return await make()

        fut: Future[T] = asyncio.run_coroutine_threadsafe(run(), self.loop)
        return fut.result(timeout)

    def token(self, name: str, role: Role) -> str:
        """A real API token (created once per name through the server's TokenBook)."""
        if name not in self.tokens:
            book = self.plane.tokens
            _, secret = self.call(lambda: book.create(name, role, "tests"))
            self.tokens[name] = secret
        return self.tokens[name]

    def client(self, token: str | None = ADMIN) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30.0)


@contextmanager
def serve(data_dir: Path, **overrides: Any) -> Iterator[Server]:
    """Start the control plane; stop it (and wait for its thread) on exit."""
    port = free_port()
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "port": port,
        "workers": 0,
        "dashboard": False,
        "admin_token": ADMIN,
        "rate_limit": 10_000.0,
        "keystore": "env",
        "query_row_cap": 100,
        "query_timeout": 1.0,
        "max_body_bytes": 4096,
        "url": f"http://127.0.0.1:{port}",
    }
    values.update(overrides)
    settings = Settings(**values)
    app = create_app(settings)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
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
    try:
        yield Server(url=f"http://127.0.0.1:{port}", settings=settings, loop=loop, app=app)
    finally:
        server.should_exit = True
        thread.join(timeout=30.0)
        assert not thread.is_alive(), "the control plane did not stop"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serve(tmp_path_factory.mktemp("cp")) as srv:
        yield srv


@pytest.fixture(scope="module")
def admin(server: Server) -> Iterator[httpx.Client]:
    with server.client(ADMIN) as c:
        yield c


@pytest.fixture(scope="module")
def operator(server: Server) -> Iterator[httpx.Client]:
    with server.client(server.token("olivia", Role.OPERATOR)) as c:
        yield c


@pytest.fixture(scope="module")
def viewer(server: Server) -> Iterator[httpx.Client]:
    with server.client(server.token("victor", Role.VIEWER)) as c:
        yield c
