"""Pure ASGI layers in front of the worker app: fault drills and the bearer-token check.

Both wrap the FastAPI app from outside, so they cost one function call per request and the
fault drill receives uvicorn's own ``send`` (whose transport it closes to drop a connection).
``/health`` is exempt from both: it is how a supervisor (or a test) knows the process is up.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import random
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from agency.errors import AgencyError, ServiceUnavailable, Unauthorized

log = logging.getLogger(__name__)

EXEMPT = frozenset({"/health"})


async def send_error(send: Send, exc: AgencyError) -> None:
    body = json.dumps(exc.to_dict()).encode()
    await send(
        {
            "type": "http.response.start",
            "status": exc.status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class BearerAuth:
    """Every HTTP request but ``/health`` must carry ``Authorization: Bearer <token>``.

    Any of ``tokens`` is accepted: the secret the worker handed the control plane in its
    registration, and the token it was started with (for operators calling it directly).
    """

    def __init__(self, app: ASGIApp, *tokens: str) -> None:
        self.app = app
        self.expected = [f"Bearer {token}".encode() for token in tokens if token]

    def _accepts(self, given: bytes) -> bool:
        # every candidate is compared, so the time taken does not tell which one matched
        matches = [hmac.compare_digest(given, expected) for expected in self.expected]
        return any(matches)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] not in EXEMPT:
            given = next((v for k, v in scope["headers"] if k == b"authorization"), b"")
            if not self._accepts(given):
                await send_error(
                    send, Unauthorized("missing or wrong bearer token for this worker")
                )
                return
        await self.app(scope, receive, send)


class FaultDrill:
    """Answer 503 to the first N requests, add latency, drop a share of connections."""

    def __init__(
        self,
        app: ASGIApp,
        fail_first: int = 0,
        latency_ms: float = 0.0,
        drop_rate: float = 0.0,
        rng: random.Random | None = None,
    ) -> None:
        self.app = app
        self.fail_left = fail_first
        self.latency = latency_ms / 1000.0
        self.drop_rate = drop_rate
        self.rng = rng or random.Random()
        self.failed = 0
        self.dropped = 0

    @property
    def active(self) -> bool:
        return bool(self.fail_left or self.latency or self.drop_rate)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in EXEMPT:
            await self.app(scope, receive, send)
            return
        if self.latency:
            await asyncio.sleep(self.latency)
        if self.drop_rate and self.rng.random() < self.drop_rate:
            self.dropped += 1
            await self._drop(send)
            return
        if self.fail_left > 0:
            self.fail_left -= 1
            self.failed += 1
            await send_error(
                send,
                ServiceUnavailable(
                    "fault drill: AGENCY_FAULT_FAIL_FIRST answers 503",
                    details={"drill": "fail_first"},
                ),
            )
            return
        await self.app(scope, receive, send)

    async def _drop(self, send: Send) -> None:
        """Close the connection without a byte of answer.

        ASGI has no "abort" message, so this reaches uvicorn's transport through its ``send``
        (a bound method of the request cycle); elsewhere it falls back to a truncated answer.
        """
        transport: Any = getattr(getattr(send, "__self__", None), "transport", None)
        if transport is not None:
            transport.close()
            return
        await send(
            {"type": "http.response.start", "status": 503, "headers": [(b"content-length", b"100")]}
        )
        raise ConnectionAbortedError("fault drill: connection dropped")
