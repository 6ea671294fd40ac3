"""The worker protocol as a FastAPI app (OpenAPI at ``/openapi.json``).

``POST /task`` parses its body itself (pydantic-core straight from bytes) and answers with
pre-serialised JSON; in a served worker ``fastpath.TaskFastPath`` answers it even before
FastAPI's routing (it is the benchmarked path). Every error has the shape ``{"error": {...}}``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, Literal

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException

from agency.errors import AgencyError, NotFound, ValidationFailed
from agency.models import (
    TranscriptPage,
    WorkerOutput,
    WorkerStatus,
    WorkerTaskRequest,
    WorkerTaskStatus,
    WorkspaceChanges,
    __version__,
)
from agency.worker.fastpath import submit_json, summary
from agency.worker.runtime import WorkerRuntime

JSON = "application/json"


class ShutdownRequest(BaseModel):
    """``POST /shutdown`` body: cancel running work (true) or let it finish (false)."""

    cancel: bool = False


def _error(exc: AgencyError) -> JSONResponse:
    return JSONResponse(exc.to_dict(), status_code=exc.status)


def _errors_doc(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {
        code: {"description": 'error: {"error": {"code", "message", "details"}}'} for code in codes
    }


def create_worker_app(
    runtime: WorkerRuntime,
    on_start: Callable[[], Awaitable[None]] | None = None,
    on_stop: Callable[[], Awaitable[None]] | None = None,
    request_exit: Callable[[], None] | None = None,
) -> FastAPI:
    """The protocol app over ``runtime``; ``request_exit`` stops the server after a drain."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if on_start:
            await on_start()
        yield
        if on_stop:
            await on_stop()

    app = FastAPI(
        title="agency worker",
        version=__version__,
        lifespan=lifespan,
        description="The agency worker protocol: run, watch and cancel tasks.",
    )
    background: set[asyncio.Task[None]] = set()

    @app.exception_handler(AgencyError)
    async def _agency_error(_: Request, exc: AgencyError) -> JSONResponse:
        return _error(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return _error(ValidationFailed("invalid request", details={"errors": _plain(exc.errors())}))

    @app.exception_handler(HTTPException)
    async def _http(_: Request, exc: HTTPException) -> JSONResponse:
        if exc.status_code == 404:
            return _error(NotFound(f"no such endpoint: {exc.detail}"))
        return JSONResponse(
            {"error": {"code": "http_error", "message": str(exc.detail), "details": {}}},
            status_code=exc.status_code,
        )

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/status", response_model=WorkerStatus)
    async def status() -> WorkerStatus:
        return runtime.status()

    @app.post(
        "/task",
        status_code=201,
        response_model=WorkerTaskStatus,
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {JSON: {"schema": {"$ref": "#/components/schemas/WorkerTaskRequest"}}},
            }
        },
        responses={
            200: {
                "description": "a repeat of a known (task_id, attempt): its current status",
                "model": WorkerTaskStatus,
            },
            **_errors_doc(400, 401, 403, 409, 503),
        },
    )
    async def post_task(request: Request) -> Response:
        """Start a task attempt; idempotent on (task_id, attempt)."""
        code, payload = await submit_json(runtime, await request.body())
        return Response(payload, status_code=code, media_type=JSON)

    @app.get("/task/{task_id}", response_model=WorkerTaskStatus, responses=_errors_doc(404))
    async def get_task(task_id: str, attempt: int | None = Query(None, ge=1)) -> WorkerTaskStatus:
        return runtime.lookup(task_id, attempt)

    @app.get("/task/{task_id}/output", response_model=WorkerOutput, responses=_errors_doc(404))
    async def get_output(
        task_id: str,
        stream: Literal["stdout", "stderr"] = "stdout",
        offset: int = Query(0, ge=0),
        limit: int = Query(65536, ge=1, le=1 << 20),
        attempt: int | None = Query(None, ge=1),
    ) -> WorkerOutput:
        return runtime.output(task_id, stream, offset, limit, attempt)

    @app.get(
        "/task/{task_id}/transcript", response_model=TranscriptPage, responses=_errors_doc(404)
    )
    async def get_transcript(
        task_id: str,
        attempt: int | None = Query(None, ge=1),
        after: int = Query(0, ge=0, description="Items with a greater seq; 0 from the start."),
        limit: int = Query(200, ge=1, le=1000),
    ) -> TranscriptPage:
        """An agent attempt's parsed transcript, a page at a time (follow ``next_after``)."""
        return runtime.transcript(task_id, attempt, after, limit)

    @app.get(
        "/task/{task_id}/changes", response_model=WorkspaceChanges, responses=_errors_doc(404, 409)
    )
    async def get_changes(
        task_id: str, attempt: int | None = Query(None, ge=1)
    ) -> WorkspaceChanges:
        """Files the attempt added, modified or deleted, and their diff (409 while it runs)."""
        return runtime.changes(task_id, attempt)

    @app.post("/task/{task_id}/cancel", response_model=WorkerTaskStatus, responses=_errors_doc(404))
    async def cancel_task(
        task_id: str, attempt: int | None = Query(None, ge=1)
    ) -> WorkerTaskStatus:
        return await runtime.cancel(task_id, attempt)

    @app.post(
        "/shutdown",
        status_code=202,
        response_model=WorkerStatus,
        openapi_extra={
            "requestBody": {
                "required": False,
                "content": {JSON: {"schema": {"$ref": "#/components/schemas/ShutdownRequest"}}},
            }
        },
    )
    async def shutdown(request: Request) -> WorkerStatus:
        """Stop accepting tasks, finish (or cancel) running ones, then exit (any content type)."""
        raw = await request.body()
        try:
            cancel = ShutdownRequest.model_validate_json(raw or b"{}").cancel
        except ValidationError as exc:
            raise ValidationFailed(f"invalid shutdown request: {summary(exc)}") from exc
        first = not runtime.draining
        runtime.begin_drain(cancel)
        if first:
            task = asyncio.create_task(_drain_then_exit(runtime, request_exit))
            background.add(task)
            task.add_done_callback(background.discard)
        return runtime.status()

    _add_schema(app, WorkerTaskRequest)
    _add_schema(app, ShutdownRequest)
    return app


async def _drain_then_exit(runtime: WorkerRuntime, request_exit: Callable[[], None] | None) -> None:
    await runtime.idle.wait()
    if request_exit:
        request_exit()


def _plain(errors: Any) -> list[dict[str, Any]]:
    return [
        {
            "loc": list(e.get("loc", ())),
            "msg": str(e.get("msg", "")),
            "type": str(e.get("type", "")),
        }
        for e in errors
    ]


def _add_schema(app: FastAPI, model: type[BaseModel]) -> None:
    """Put ``model`` into the OpenAPI components (the route reads its body by hand)."""
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = original()
            defs = model.model_json_schema(ref_template="#/components/schemas/{model}")
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            components.update(defs.pop("$defs", {}))
            components[model.__name__] = defs
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
