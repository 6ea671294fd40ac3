"""Translate worker-call failures into agency's error tree, at the fleet boundary.

Two kinds of failure reach this module: exceptions of the HTTP libraries (httpx, aiohttp),
tenacity (``RetryError`` when retries run out) and pybreaker (``CircuitBreakerError``), and
error answers of a worker (``{"error": {"code", "message", "details"}}`` with a 4xx/5xx
status). Both come out as ``AgencyError`` subclasses, so callers never see a library type.

Classification decides what happens next: ``WorkerUnavailable`` and ``WorkerTimeout`` raised
by a transport are retried (connection refused, reset or dropped; timeouts); every other
``WorkerError`` is final.
"""

from __future__ import annotations

import asyncio
import ssl
from concurrent.futures import Future
from typing import Any

import aiohttp
import httpx
import pybreaker
import tenacity

from agency.errors import (
    AgencyError,
    CircuitOpen,
    InvalidSpec,
    NotFound,
    SandboxDenied,
    WorkerError,
    WorkerFull,
    WorkerRejected,
    WorkerTimeout,
    WorkerTLSError,
    WorkerUnavailable,
)

RETRY_STATUSES = frozenset({502, 503, 504})
DRAINING = "draining"


def _describe(exc: BaseException) -> str:
    # Library exceptions built without their usual arguments can fail in __str__.
    try:
        text = str(exc)
    except Exception:
        text = ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _tls_cause(exc: BaseException) -> ssl.SSLError | None:
    """The SSL error under a library's connect error, if that is why it failed."""
    seen: BaseException | None = exc
    for _ in range(6):
        if seen is None:
            return None
        if isinstance(seen, ssl.SSLError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _httpx_error(exc: BaseException, details: dict[str, Any]) -> AgencyError | None:
    msg = _describe(exc)
    tls = _tls_cause(exc) if isinstance(exc, httpx.ConnectError) else None
    if tls is not None:
        # a certificate that does not verify will not heal by retrying
        return WorkerTLSError(f"TLS failure talking to worker ({_describe(tls)})", details=details)
    if isinstance(exc, httpx.TimeoutException):
        return WorkerTimeout(f"worker call timed out ({msg})", details=details)
    if isinstance(exc, httpx.ConnectError):
        return WorkerUnavailable(f"cannot connect to worker ({msg})", details=details)
    if isinstance(
        exc, httpx.ReadError | httpx.WriteError | httpx.CloseError | httpx.RemoteProtocolError
    ):
        # the connection was reset or dropped without a complete answer
        return WorkerUnavailable(f"worker connection dropped ({msg})", details=details)
    if isinstance(
        exc, httpx.HTTPError | httpx.InvalidURL | httpx.CookieConflict | httpx.StreamError
    ):
        return WorkerError(f"worker call failed ({msg})", details=details)
    return None


def _aiohttp_error(exc: BaseException, details: dict[str, Any]) -> AgencyError | None:
    msg = _describe(exc)
    if isinstance(exc, aiohttp.ServerTimeoutError):
        return WorkerTimeout(f"worker call timed out ({msg})", details=details)
    if isinstance(exc, aiohttp.ClientSSLError | aiohttp.ServerFingerprintMismatch):
        # a TLS problem will not heal by retrying
        return WorkerTLSError(f"TLS failure talking to worker ({msg})", details=details)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return WorkerUnavailable(f"cannot connect to worker ({msg})", details=details)
    if isinstance(exc, aiohttp.ClientConnectionError | aiohttp.ClientPayloadError):
        return WorkerUnavailable(f"worker connection dropped ({msg})", details=details)
    if isinstance(exc, aiohttp.ClientError):
        return WorkerError(f"worker call failed ({msg})", details=details)
    return None


def _retry_error(
    exc: tenacity.RetryError, context: dict[str, Any], details: dict[str, Any]
) -> AgencyError:
    """Retries ran out: translate the last attempt's exception, or its error answer."""
    last = getattr(exc, "last_attempt", None)
    if isinstance(last, Future) and last.done():
        inner = last.exception()
        if inner is not None:
            return translate_exception(inner, **context)
        result = last.result()
        if isinstance(result, tuple) and len(result) == 2 and isinstance(result[0], int):
            return error_from_answer(result[0], result[1], **context)
    return WorkerError("worker call gave up after its retries", details=details)


def translate_exception(exc: BaseException, **context: Any) -> AgencyError:
    """Map any exception raised while calling a worker to an ``AgencyError``.

    ``context`` (worker, url, task_id...) lands in the error's details. The mapping is
    total: an exception this module does not know becomes a plain ``WorkerError``.
    """
    if isinstance(exc, AgencyError):
        return exc
    details = {k: v for k, v in context.items() if v is not None}
    if isinstance(exc, tenacity.RetryError):
        return _retry_error(exc, context, details)
    if isinstance(exc, pybreaker.CircuitBreakerError):
        return CircuitOpen(f"circuit breaker open ({_describe(exc)})", details=details)
    for mapper in (_httpx_error, _aiohttp_error):
        mapped = mapper(exc, details)
        if mapped is not None:
            mapped.__cause__ = exc
            return mapped
    msg = _describe(exc)
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return WorkerTimeout(f"worker call timed out ({msg})", details=details)
    if isinstance(exc, ConnectionError):
        return WorkerUnavailable(f"worker connection failed ({msg})", details=details)
    if isinstance(exc, OSError):
        return WorkerUnavailable(f"cannot reach worker ({msg})", details=details)
    return WorkerError(f"worker call failed ({msg})", details=details)


def worker_error_body(body: bytes | dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
    """The (code, message, details) of a worker's error answer, tolerating other shapes."""
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict):
            details = err.get("details")
            return (
                str(err.get("code") or ""),
                str(err.get("message") or ""),
                details if isinstance(details, dict) else {},
            )
        if isinstance(err, str):  # an ag-agent's {"error": "<code>", "message": "<text>"}
            return err, str(body.get("message") or ""), {}
        if "detail" in body:  # FastAPI's default shape (e.g. a 422 before the app's handler)
            return "", str(body["detail"])[:500], {}
        return "", "", {}
    return "", body[:500].decode("utf-8", "replace"), {}


def is_draining(status: int, body: bytes | dict[str, Any]) -> bool:
    """A 503 that says the worker is draining: deliberate, so neither retried nor a failure."""
    return status == 503 and worker_error_body(body)[0] == DRAINING


def error_from_answer(status: int, body: bytes | dict[str, Any], **context: Any) -> AgencyError:
    """Map a worker's error answer (status >= 400) to an ``AgencyError``."""
    code, message, worker_details = worker_error_body(body)
    details = {k: v for k, v in context.items() if v is not None}
    details.update({"status": status, "worker_code": code, "worker_message": message})
    if worker_details:
        details["worker_details"] = worker_details
    text = message or f"worker answered {status}"
    if status == 404:
        return NotFound(text, details=details)
    if status == 409 and code in ("worker_full", "agent_busy", ""):
        return WorkerFull(text, details=details)
    if code == "invalid_spec" or (status == 422 and context.get("path") == "/task"):
        return InvalidSpec(text, details=details)
    if code == "sandbox_denied":
        return SandboxDenied(text, details=details)
    if status == 504:
        return WorkerTimeout(f"worker timed out: {text}", details=details)
    if status in RETRY_STATUSES:
        return WorkerUnavailable(f"worker unavailable: {text}", details=details)
    if 400 <= status < 500:
        return WorkerRejected(text, details=details)
    return WorkerError(f"worker failed: {text}", details=details)


def is_breaker_failure(exc: BaseException) -> bool:
    """Whether a call's error says the worker is sick (counts toward opening its breaker).

    A worker that answers 4xx (full, bad spec, unknown task, denied) or says it is draining
    is alive and deliberate: that is not a failure.
    """
    if not isinstance(exc, WorkerError) or isinstance(exc, WorkerRejected | CircuitOpen):
        return False
    return exc.details.get("worker_code") != DRAINING


def is_retryable(exc: BaseException) -> bool:
    """Connect errors, dropped connections and timeouts raised by a transport."""
    if isinstance(exc, CircuitOpen) or not isinstance(exc, WorkerUnavailable | WorkerTimeout):
        return False
    # answers translated after the retries ran out carry their status: never retried again
    return "status" not in exc.details
