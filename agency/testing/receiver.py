"""A tiny real HTTP server that records what it is sent: a stand-in control plane.

    from agency.testing import Receiver
    rx = Receiver(port).start()
    rx.fail("/register", 503, times=3)   # path suffix, status, how many times
    rx.wait_for(lambda reqs: len(rx.find("/heartbeat")) >= 2)
    rx.stop()                             # the port refuses connections again

Every request is recorded (method, path, headers, JSON body), including the refused ones.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["Received", "Receiver"]


@dataclass
class Received:
    """One recorded request and the status it was answered with."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    status: int


class Receiver:
    """Records POSTs; answers 200 ``{}`` unless told to fail a path a number of times."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.requests: list[Received] = []
        self.failures: list[tuple[str, int, int]] = []  # (path suffix, status, times left)
        self.lock = threading.Lock()
        self.server: ThreadingHTTPServer | None = None
        self.thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def fail(self, suffix: str, status: int, times: int) -> None:
        """Answer the next ``times`` requests whose path ends with ``suffix`` with ``status``."""
        with self.lock:
            self.failures.append((suffix, status, times))

    def _status_for(self, path: str) -> int:
        with self.lock:
            for i, (suffix, status, left) in enumerate(self.failures):
                if path.endswith(suffix) and left > 0:
                    self.failures[i] = (suffix, status, left - 1)
                    return status
        return 200

    def start(self) -> Receiver:
        """Serve on ``self.port`` in a daemon thread; returns ``self``."""
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status = receiver._status_for(self.path)
                body = json.loads(raw) if raw else None
                with receiver.lock:
                    receiver.requests.append(
                        Received("POST", self.path, dict(self.headers), body, status)
                    )
                out = b"{}"
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, format: str, *args: Any) -> None:
                return

        ThreadingHTTPServer.allow_reuse_address = True
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket: the port refuses connections again."""
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def find(self, suffix: str, status: int | None = 200) -> list[Received]:
        """Recorded requests whose path ends with ``suffix`` (answered ``status``; None: any)."""
        with self.lock:
            return [
                r
                for r in self.requests
                if r.path.endswith(suffix) and (status is None or r.status == status)
            ]

    def wait_for(self, condition: Callable[[], bool], timeout: float = 20.0) -> None:
        """Wait until ``condition()`` holds; fail listing the last requests received."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return
            time.sleep(0.02)
        raise AssertionError(
            f"condition not met within {timeout}s; requests: "
            f"{[(r.path, r.status) for r in self.requests][-20:]}"
        )
