"""Every library error met at the worker boundary becomes an AgencyError, and answers map right."""

from __future__ import annotations

import inspect
from concurrent.futures import Future
from types import ModuleType
from typing import Any

import aiohttp
import httpx
import pybreaker
import pytest
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
    WorkerUnavailable,
)
from agency.fleet import error_from_answer, translate_exception
from agency.fleet.translate import is_breaker_failure, is_retryable


def exception_classes(module: ModuleType) -> list[type[BaseException]]:
    found = {
        obj
        for _, obj in inspect.getmembers(module, inspect.isclass)
        if issubclass(obj, BaseException) and obj.__module__.startswith(module.__name__)
    }
    # walk subclasses too: a library may raise classes it does not export
    stack = list(found)
    while stack:
        for sub in stack.pop().__subclasses__():
            if sub.__module__.startswith(module.__name__) and sub not in found:
                found.add(sub)
                stack.append(sub)
    return sorted(found, key=lambda c: c.__name__)


def instance(cls: type[BaseException]) -> BaseException:
    """An instance however the class's constructor is shaped (some need request objects)."""
    for args in (("boom",), ()):
        try:
            return cls(*args)
        except Exception:
            continue
    return cls.__new__(cls)


def retry_error(outcome: Any, failed: bool) -> tenacity.RetryError:
    fut = tenacity.Future(1)
    if failed:
        fut.set_exception(outcome)
    else:
        fut.set_result(outcome)
    return tenacity.RetryError(fut)


HTTPX = [c for c in exception_classes(httpx) if issubclass(c, Exception)]
AIOHTTP_CLIENT = [
    c
    for c in exception_classes(aiohttp)
    if issubclass(c, aiohttp.ClientError | aiohttp.ServerTimeoutError)
]


def test_the_walk_found_the_libraries_classes() -> None:
    assert {httpx.ConnectError, httpx.ReadTimeout, httpx.InvalidURL, httpx.StreamClosed} <= set(
        HTTPX
    )
    assert {
        aiohttp.ClientConnectorError,
        aiohttp.ServerDisconnectedError,
        aiohttp.ClientPayloadError,
        aiohttp.InvalidUrlClientError,
    } <= set(AIOHTTP_CLIENT)
    assert len(HTTPX) >= 25 and len(AIOHTTP_CLIENT) >= 25


@pytest.mark.parametrize(
    "cls", HTTPX + AIOHTTP_CLIENT, ids=lambda c: f"{c.__module__}.{c.__name__}"
)
def test_every_library_error_is_translated(cls: type[BaseException]) -> None:
    err = translate_exception(instance(cls), worker="w1", url="http://127.0.0.1:1")
    assert isinstance(err, AgencyError), cls
    assert isinstance(err, WorkerError), cls
    assert err.details["worker"] == "w1"
    assert err.to_dict()["error"]["code"]


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (httpx.ConnectError("refused"), WorkerUnavailable),
        (httpx.ConnectTimeout("slow"), WorkerTimeout),
        (httpx.ReadTimeout("slow"), WorkerTimeout),
        (httpx.PoolTimeout("slow"), WorkerTimeout),
        (httpx.RemoteProtocolError("dropped"), WorkerUnavailable),
        (httpx.ReadError("reset"), WorkerUnavailable),
        (httpx.UnsupportedProtocol("ftp"), WorkerError),
        (httpx.InvalidURL("bad"), WorkerError),
        (aiohttp.ServerDisconnectedError(), WorkerUnavailable),
        (aiohttp.ConnectionTimeoutError(), WorkerTimeout),
        (aiohttp.SocketTimeoutError(), WorkerTimeout),
        (aiohttp.ClientPayloadError("cut"), WorkerUnavailable),
        (aiohttp.ClientOSError(104, "reset"), WorkerUnavailable),
        (aiohttp.InvalidURL("bad"), WorkerError),
        (TimeoutError(), WorkerTimeout),
        (ConnectionRefusedError(), WorkerUnavailable),
        (pybreaker.CircuitBreakerError("open"), CircuitOpen),
        (retry_error(httpx.ConnectError("refused"), failed=True), WorkerUnavailable),
        (
            retry_error((503, {"error": {"code": "x", "message": "m"}}), failed=False),
            WorkerUnavailable,
        ),
        (retry_error((504, b"gateway"), failed=False), WorkerTimeout),
        (retry_error("odd", failed=False), WorkerError),
        (ValueError("anything else"), WorkerError),
    ],
)
def test_specific_mappings(exc: BaseException, expected: type[AgencyError]) -> None:
    err = translate_exception(exc)
    assert type(err) is expected


def test_tenacity_and_pybreaker_errors_are_covered() -> None:
    for cls in (tenacity.RetryError, pybreaker.CircuitBreakerError):
        assert isinstance(translate_exception(instance(cls)), AgencyError)
    assert isinstance(translate_exception(retry_error(Future(), failed=False)), AgencyError)


def test_connect_errors_and_timeouts_are_retried_answers_are_not() -> None:
    assert is_retryable(translate_exception(httpx.ConnectError("x")))
    assert is_retryable(translate_exception(aiohttp.ServerDisconnectedError()))
    assert is_retryable(translate_exception(TimeoutError()))
    assert not is_retryable(translate_exception(httpx.InvalidURL("x")))
    assert not is_retryable(translate_exception(pybreaker.CircuitBreakerError()))
    assert not is_retryable(error_from_answer(503, b""))


BODY = {"error": {"code": "", "message": "nope", "details": {"field": "argv"}}}


def body(code: str) -> dict[str, Any]:
    return {"error": {**BODY["error"], "code": code}}


@pytest.mark.parametrize(
    ("status", "answer", "expected", "breaker_failure"),
    [
        (400, body("invalid_spec"), InvalidSpec, False),
        (400, body("bad_request"), WorkerRejected, False),
        (422, {"detail": [{"msg": "field required"}]}, InvalidSpec, False),
        (401, body("unauthorized"), WorkerRejected, False),
        (403, body("sandbox_denied"), SandboxDenied, False),
        (403, body("forbidden"), WorkerRejected, False),
        (404, body("not_found"), NotFound, False),
        (409, body("worker_full"), WorkerFull, False),
        (409, body("conflict"), WorkerRejected, False),
        (413, b"too big", WorkerRejected, False),
        (500, b"Internal Server Error", WorkerError, True),
        (502, b"bad gateway", WorkerUnavailable, True),
        (503, body("fault"), WorkerUnavailable, True),
        (503, body("draining"), WorkerUnavailable, False),
        (504, b"", WorkerTimeout, True),
    ],
)
def test_answers_map_to_the_tree(
    status: int, answer: Any, expected: type[AgencyError], breaker_failure: bool
) -> None:
    err = error_from_answer(status, answer, path="/task", worker="w1")
    assert type(err) is expected
    assert err.details["status"] == status and err.details["worker"] == "w1"
    if isinstance(answer, dict) and "error" in answer:
        assert err.details["worker_code"] == answer["error"]["code"]
        assert err.details["worker_details"] == {"field": "argv"}
        assert err.message.endswith("nope")
    assert is_breaker_failure(err) is breaker_failure
