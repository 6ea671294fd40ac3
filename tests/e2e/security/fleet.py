"""Helpers of the end-to-end security tests: a second, protocol-speaking worker, and bounded
waits on the control plane's API (real workers come from ``Stack.add_worker``)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

from agency.client.sse import SseDecoder
from agency.testing import WORKER, wait_for

TERMINAL = frozenset({"succeeded", "failed", "canceled", "rejected"})
V1 = "/api/v1"


def wait_task(
    http: httpx.Client, task_id: str, states: frozenset[str] = TERMINAL, timeout: float = 30.0
) -> dict[str, Any]:
    """``GET /api/v1/tasks/{id}`` until the task's state is in ``states`` and the event of
    that state is stored (memory moves before the write lands); the detail body."""
    body: dict[str, Any] = {}

    def reached() -> bool:
        nonlocal body
        body = http.get(f"{V1}/tasks/{task_id}").json()
        state = body["task"]["state"]
        return state in states and f"task.{state}" in {e["action"] for e in body["timeline"]}

    wait_for(reached, timeout, f"task {task_id} in {sorted(states)} (last: {body})")
    return body


def submit(http: httpx.Client, body: dict[str, Any]) -> str:
    """Create one task through the API; its id."""
    r = http.post(f"{V1}/tasks", json=body)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def task_events(http: httpx.Client, task_id: str) -> list[dict[str, Any]]:
    """Every audit event of one task, oldest first."""
    r = http.get(f"{V1}/audit", params={"resource_id": task_id, "limit": 1000})
    assert r.status_code == 200, r.text
    return sorted(r.json()["items"], key=lambda e: e["seq"])


def sse_events(
    url: str,
    token: str,
    params: dict[str, Any],
    until: Callable[[dict[str, Any]], bool],
    seconds: float = 15.0,
    raw: list[str] | None = None,
) -> list[dict[str, Any]]:
    """Events from ``/api/v1/events/stream`` until one matches ``until`` (or time runs out)."""
    out: list[dict[str, Any]] = []
    decoder = SseDecoder()
    deadline = time.monotonic() + seconds
    headers = {"Authorization": f"Bearer {token}", "Accept": "text/event-stream"}
    with httpx.stream(
        "GET",
        url + f"{V1}/events/stream",
        params=params,
        headers=headers,
        timeout=httpx.Timeout(10.0, read=seconds),
    ) as r:
        assert r.status_code == 200
        for line in r.iter_lines():
            if raw is not None:
                raw.append(line)
            msg = decoder.feed(line)
            if msg is not None and msg.data:
                out.append(json.loads(msg.data))
                if until(out[-1]):
                    break
            if time.monotonic() > deadline:
                break
    return out


# --- a protocol-speaking worker whose sandbox reports denials only in task statuses ------------


@dataclass
class ProtocolWorker:
    """A worker of another make (the protocol allows any): it accepts every shell task as
    ``running``, then reports it ``failed`` with ``denials`` by push, and by poll."""

    worker_id: str
    control_plane: str
    denials: list[dict[str, str]]
    port: int = 0
    tasks: dict[str, dict[str, Any]] = field(default_factory=dict)
    pushed: list[int] = field(default_factory=list)  # HTTP status of every report push

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def accept(self, body: dict[str, Any]) -> dict[str, Any]:
        now = datetime.now(UTC).isoformat()
        running = {
            "task_id": body["task_id"],
            "attempt": body["attempt"],
            "kind": body["kind"],
            "state": "running",
            "started_at": now,
        }
        self.tasks[body["task_id"]] = {
            **running,
            "state": "failed",
            "reason": "sandbox denied",
            "finished_at": now,
            "denials": self.denials,
        }
        threading.Thread(target=self.push, args=(body["task_id"],), daemon=True).start()
        return running

    def push(self, task_id: str) -> None:
        report = {"worker_id": self.worker_id, "status": self.tasks[task_id]}
        r = httpx.post(
            f"{self.control_plane}{V1}/workers/{self.worker_id}/reports",
            json=report,
            headers={"Authorization": f"Bearer {WORKER}"},
            timeout=10,
        )
        self.pushed.append(r.status_code)

    def register(self, labels: dict[str, str]) -> None:
        reg = {
            "id": self.worker_id,
            "url": self.url,
            "kinds": ["shell"],
            "capacity": 2,
            "labels": labels,
        }
        r = httpx.post(
            f"{self.control_plane}{V1}/workers/register",
            json=reg,
            headers={"Authorization": f"Bearer {WORKER}"},
            timeout=10,
        )
        assert r.status_code == 200, r.text


def _handler(worker: ProtocolWorker) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            return None

        def _reply(self, status: int, body: object) -> None:
            raw = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def do_GET(self) -> None:
            parts = self.path.split("?")[0].strip("/").split("/")
            if parts == ["health"]:
                self._reply(200, {"ok": True})
            elif parts == ["status"]:
                self._reply(
                    200,
                    {
                        "id": worker.worker_id,
                        "version": "other-1",
                        "kinds": ["shell"],
                        "capacity": 2,
                        "running": [],
                        "labels": {},
                    },
                )
            elif len(parts) == 2 and parts[0] == "task" and parts[1] in worker.tasks:
                self._reply(200, worker.tasks[parts[1]])
            elif len(parts) == 3 and parts[2] == "output" and parts[1] in worker.tasks:
                stream = "stderr" if "stream=stderr" in self.path else "stdout"
                self._reply(
                    200,
                    {
                        "task_id": parts[1],
                        "stream": stream,
                        "offset": 0,
                        "next_offset": 0,
                        "data": "",
                        "eof": True,
                    },
                )
            else:
                self._reply(
                    404, {"error": {"code": "not_found", "message": self.path, "details": {}}}
                )

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            if self.path == "/task":
                self._reply(201, worker.accept(body))
            elif self.path.endswith("/cancel"):
                task_id = self.path.strip("/").split("/")[1]
                self._reply(200, worker.tasks.get(task_id, {}))
            else:
                self._reply(
                    404, {"error": {"code": "not_found", "message": self.path, "details": {}}}
                )

    return Handler


@contextmanager
def protocol_worker(
    worker_id: str, control_plane: str, denials: list[dict[str, str]]
) -> Iterator[ProtocolWorker]:
    """Serve a ``ProtocolWorker`` on a free 127.0.0.1 port for the duration of the block."""
    worker = ProtocolWorker(worker_id, control_plane, denials)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(worker))
    worker.port = int(server.server_address[1])
    thread = threading.Thread(
        target=server.serve_forever, name=f"protocol-worker-{worker.port}", daemon=True
    )
    thread.start()
    try:
        yield worker
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
