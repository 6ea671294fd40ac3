"""``POST /task`` straight to the runtime, ahead of FastAPI's routing and middleware.

It is the benchmarked path (no-op dispatch round trips): skipping Starlette's router,
request object and exception middleware is worth a good share of its cost. The FastAPI route
of the same path stays, for the OpenAPI document and for apps built without this layer;
both go through ``submit_json``, so they answer alike.
"""

from __future__ import annotations

from pydantic import ValidationError
from starlette.types import ASGIApp, Receive, Scope, Send

from agency.errors import AgencyError, InvalidSpec, PayloadTooLarge
from agency.models import WorkerTaskRequest
from agency.worker.asgi import send_error
from agency.worker.runtime import WorkerRuntime

MAX_BODY = 1 << 20
HEADERS = [(b"content-type", b"application/json")]


def summary(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()
    )


async def submit_json(runtime: WorkerRuntime, raw: bytes) -> tuple[int, bytes]:
    """Parse a ``WorkerTaskRequest`` body and submit it: (201 created | 200 repeat, JSON)."""
    try:
        req = WorkerTaskRequest.model_validate_json(raw)
    except ValidationError as exc:
        raise InvalidSpec(f"invalid task request: {summary(exc)}") from exc
    status, created = await runtime.submit(req)
    return (201 if created else 200), status.model_dump_json().encode()


async def read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            raise PayloadTooLarge(f"task request over {MAX_BODY} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


class TaskFastPath:
    """Serve ``POST /task`` without FastAPI; everything else goes on to ``app``."""

    def __init__(self, app: ASGIApp, runtime: WorkerRuntime) -> None:
        self.app = app
        self.runtime = runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != "/task" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        try:
            code, payload = await submit_json(self.runtime, await read_body(receive))
        except AgencyError as exc:
            await send_error(send, exc)
            return
        await send(
            {
                "type": "http.response.start",
                "status": code,
                "headers": [*HEADERS, (b"content-length", str(len(payload)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": payload})
