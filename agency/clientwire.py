"""Wire-level helpers of ``agency.client``: call descriptions, error decoding, SSE framing.

Shared by the sync and async clients so each of their methods is one line of intent.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any, Generic, TypeVar

import httpx
import pandas as pd
from pydantic import BaseModel

from agency.errors import (
    AgencyError,
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    RequestTimeout,
    ServiceUnavailable,
    Unauthorized,
    ValidationFailed,
    WorkerError,
    WorkerTimeout,
    all_error_classes,
)

T = TypeVar("T")
QueryParams = list[tuple[str, str | int | float | bool | None]]

_BY_CODE: dict[str, type[AgencyError]] = {cls.code: cls for cls in all_error_classes()}
_BY_STATUS: dict[int, type[AgencyError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    408: RequestTimeout,
    409: Conflict,
    413: PayloadTooLarge,
    422: ValidationFailed,
    429: RateLimited,
    502: WorkerError,
    503: ServiceUnavailable,
    504: WorkerTimeout,
}


@dataclass(frozen=True)
class Call(Generic[T]):
    """One HTTP request and how to turn its JSON (or text) answer into ``T``."""

    method: str
    path: str
    parse: Callable[[Any], T]
    params: QueryParams = field(default_factory=list)
    json: Any = None
    text: bool = False


def query(**params: Any) -> QueryParams:
    """Query parameters without the ``None`` ones; lists repeat the key, datetimes go ISO."""
    out: QueryParams = []
    for key, value in params.items():
        values = value if isinstance(value, list | tuple) else [value]
        for v in values:
            if v is None:
                continue
            if isinstance(v, datetime):
                v = v.isoformat()
            elif isinstance(v, Enum):
                v = v.value
            elif isinstance(v, bool):
                v = "true" if v else "false"
            out.append((key, str(v)))
    return out


def error_from_response(response: httpx.Response) -> AgencyError:
    """The agency exception an error answer stands for (by its code, else its status)."""
    try:
        body = response.json()
        err = body["error"]
        code, message, details = (
            str(err["code"]),
            str(err["message"]),
            dict(err.get("details") or {}),
        )
    except (ValueError, KeyError, TypeError):
        code, message, details = "", f"HTTP {response.status_code}: {response.text[:300]}", {}
    cls = _BY_CODE.get(code) or _BY_STATUS.get(response.status_code, AgencyError)
    details.setdefault("status", response.status_code)
    if issubclass(cls, RateLimited):
        retry_after = details.get("retry_after") or response.headers.get("retry-after") or 1.0
        return cls(message, retry_after=float(retry_after), details=details)
    return cls(message, details=details)


def transport_error(url: str, exc: httpx.HTTPError) -> AgencyError:
    """httpx's own failures (connect, timeout, protocol) as agency errors."""
    if isinstance(exc, httpx.TimeoutException):
        return ServiceUnavailable(
            f"the control plane at {url} did not answer in time ({type(exc).__name__})",
            details={"url": url},
        )
    return ServiceUnavailable(
        f"cannot reach the control plane at {url}: {exc}", details={"url": url}
    )


def frame(rows: Iterable[Mapping[str, Any]], columns: Iterable[str]) -> pd.DataFrame:
    """Rows of API JSON as a DataFrame; ``*_at``/``ts``/``since`` columns become UTC datetimes."""
    df = pd.DataFrame(list(rows), columns=list(columns))
    for col in df.columns:
        if (
            col == "ts"
            or col.endswith("_at")
            or col in ("deadline", "not_before", "last_heartbeat")
        ):
            df[col] = pd.to_datetime(df[col], utc=True, format="ISO8601")
    return df


def model_frame(model: type[BaseModel], rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    return frame(rows, model.model_fields)


@dataclass
class SseMessage:
    """One server-sent event."""

    event: str = "message"
    data: str = ""
    id: str | None = None
    retry: int | None = None


class SseDecoder:
    """Incremental ``text/event-stream`` parser (WHATWG rules): feed lines, get messages."""

    def __init__(self) -> None:
        self._event = ""
        self._data: list[str] = []
        self._id: str | None = None
        self._retry: int | None = None

    def feed(self, line: str) -> SseMessage | None:
        line = line.rstrip("\r\n")
        if line == "":
            if not self._data:
                self._event, self._id, self._retry = "", None, None
                return None
            msg = SseMessage(
                event=self._event or "message",
                data="\n".join(self._data),
                id=self._id,
                retry=self._retry,
            )
            self._event, self._data, self._id, self._retry = "", [], None, None
            return msg
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id" and "\0" not in value:
            self._id = value
        elif name == "retry" and value.isdigit():
            self._retry = int(value)
        return None


@dataclass
class Reconnect:
    """Reconnect policy of the stream iterators: backoff from the server's ``retry`` hint."""

    enabled: bool = True
    max_attempts: int | None = None  # consecutive failed attempts; None = keep trying
    delay: float = 1.0
    max_delay: float = 10.0
    failures: int = 0

    def next_delay(self) -> float:
        self.failures += 1
        if self.max_attempts is not None and self.failures > self.max_attempts:
            raise ServiceUnavailable(
                f"stream lost; gave up after {self.max_attempts} reconnect attempts"
            )
        return float(min(self.max_delay, self.delay * math.pow(2, min(self.failures - 1, 6))))

    def connected(self) -> None:
        self.failures = 0
