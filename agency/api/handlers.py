"""One JSON error shape for every failure: ``{"error": {"code", "message", "details"}}``.

``AgencyError`` answers with its own status; FastAPI's validation errors become 422
``validation_error`` (400 ``bad_request`` for a body that is not JSON at all); Starlette's
404/405 and anything unexpected use the same shape, so clients parse one thing.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from agency.api.fields import describe
from agency.errors import AgencyError, BadRequest, InvalidSpec, RateLimited, ValidationFailed
from agency.models.tasks import SPEC_ERROR

log = logging.getLogger("agency.api")

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
    503: "service_unavailable",
}


class ErrorDetail(BaseModel):
    code: str = Field(description="Stable machine-readable code, e.g. `not_found`.")
    message: str
    details: dict[str, Any] = Field(default_factory=dict)


class ErrorBody(BaseModel):
    """The body of every error answer."""

    error: ErrorDetail


def _doc(description: str) -> dict[str, Any]:
    return {"model": ErrorBody, "description": description}


# Declared on every router so /openapi.json documents the error answers (schemathesis checks).
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _doc("Bad request (malformed JSON, invalid spec, invalid cursor)."),
    401: _doc("No token, or an unknown or revoked one."),
    403: _doc("The token's role is too weak."),
    404: _doc("Unknown resource."),
    409: _doc("Conflicts with the resource's current state."),
    413: _doc("Body over the size limit."),
    422: _doc("Validation error."),
    429: _doc("Rate limited; see Retry-After."),
    503: _doc("Starting, draining, or a dependency is down."),
}


def error_response(exc: AgencyError) -> JSONResponse:
    headers = None
    if isinstance(exc, RateLimited):
        headers = {"Retry-After": str(max(1, math.ceil(exc.retry_after)))}
    return JSONResponse(jsonable_encoder(exc.to_dict()), status_code=exc.status, headers=headers)


async def _agency_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AgencyError)
    if exc.status >= 500:
        log.warning(
            "%s %s -> %s %s: %s",
            request.method,
            request.url.path,
            exc.status,
            exc.code,
            exc.message,
        )
    return error_response(exc)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    raw = list(exc.errors())
    errors: list[dict[str, Any]] = []
    problems: list[str] = []
    for e in raw:
        for field, problem in describe(e):
            errors.append(
                {
                    "loc": [str(p) for p in e.get("loc", ())],
                    "field": field,
                    "msg": problem,
                    "type": str(e.get("type", "")),
                }
            )
            problems.append(f"{field}: {problem}")
    if any(e["type"] == "json_invalid" for e in errors):
        return error_response(
            BadRequest("the request body is not valid JSON", details={"errors": errors})
        )
    summary = "; ".join(problems[:5]) + ("; ..." if len(problems) > 5 else "")
    if raw and all(e.get("type") == SPEC_ERROR for e in raw):
        # a bad task spec keeps its own code (invalid_spec, 400), now with where it is
        kind = (raw[0].get("ctx") or {}).get("kind")
        details: dict[str, Any] = {"errors": errors}
        if kind is not None:
            details["kind"] = kind
        return error_response(InvalidSpec(f"invalid task spec: {summary}", details=details))
    return error_response(
        ValidationFailed(f"invalid request: {summary}", details={"errors": errors})
    )


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
    if exc.status_code == 404 and message == "Not Found":
        message = f"no route {request.method} {request.url.path}"
    body = {"error": {"code": code, "message": message, "details": {}}}
    return JSONResponse(body, status_code=exc.status_code, headers=getattr(exc, "headers", None))


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    body = {
        "error": {
            "code": "internal_error",
            "message": "internal error; see the control plane log",
            "details": {},
        }
    }
    return JSONResponse(body, status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AgencyError, _agency_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
