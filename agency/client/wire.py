"""The wire level both clients share: an endpoint's description, a built request, query
strings, request bodies checked by their model, and error answers decoded as agency errors.

``Endpoint`` is one route as the API declares it (method, path, body model, answer);
calling it with the ids and values of one request gives a ``Call``, which either client sends
with its one ``_do``. Ids are URL-quoted here, so no method can put one into a path raw.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any, Generic, Literal, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, TypeAdapter, ValidationError

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
from agency.models import __version__

T = TypeVar("T")
U = TypeVar("U")
M = TypeVar("M", bound=BaseModel)
QueryParams = list[tuple[str, str | int | float | bool | None]]
Decode = Literal["json", "text", "response"]  # what ``parse`` is given
V1 = "/api/v1"
USER_AGENT = f"agency-client/{__version__}"

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
    """One HTTP request, ready to send, and how its answer becomes ``T``."""

    method: str
    path: str
    parse: Callable[[Any], T]
    params: QueryParams = field(default_factory=list)
    json: Any = None
    decode: Decode = "json"
    headers: Mapping[str, str] = field(default_factory=dict)
    also_ok: frozenset[int] = frozenset()  # error statuses that are an answer (health's 503)

    def answer(self, response: httpx.Response) -> T:
        """``T`` from the response; an error status is raised as its agency error."""
        if response.status_code >= 400 and response.status_code not in self.also_ok:
            raise error_from_response(response)
        if self.decode == "response":
            return self.parse(response)
        return self.parse(response.text if self.decode == "text" else response.json())


@dataclass(frozen=True)
class Endpoint(Generic[T]):
    """One route of the API: ``path`` has a ``{}`` for each id, ``body`` is the request
    model the server parses, ``answer`` turns the decoded answer into ``T``."""

    method: str
    path: str
    answer: Callable[[Any], T]
    body: type[BaseModel] | None = None
    decode: Decode = "json"
    also_ok: frozenset[int] = frozenset()

    def call(
        self,
        *ids: str,
        params: QueryParams | None = None,
        body: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Call[T]:
        """The request for these ids, query parameters and body values."""
        return self.call_as(self.answer, *ids, params=params, body=body, headers=headers)

    def call_as(
        self,
        parse: Callable[[Any], U],
        *ids: str,
        params: QueryParams | None = None,
        body: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        decode: Decode | None = None,
    ) -> Call[U]:
        """The same request with another reading of its answer (a DataFrame of its rows)."""
        return Call(
            self.method,
            self.path.format(*(quote(str(i), safe="") for i in ids)),
            parse,
            params=params or [],
            json=None if body is None else self._json(body),
            decode=decode or self.decode,
            headers=headers or {},
            also_ok=self.also_ok,
        )

    def _json(self, values: Mapping[str, Any]) -> Any:
        if self.body is None:
            raise TypeError(f"{self.method} {self.path} takes no body")
        return check_body(self.body, values).model_dump(mode="json", exclude_unset=True)


def check_body(model: type[M], values: Mapping[str, Any]) -> M:
    """``values`` as the server will parse them; refused here the way the server refuses
    them (``ValidationFailed``, each error's ``loc`` under ``body``)."""
    try:
        return model.model_validate(dict(values))
    except ValidationError as exc:
        errors = [
            {
                "loc": ["body", *(str(p) for p in e["loc"])],
                "msg": str(e["msg"]),
                "type": str(e["type"]),
            }
            for e in exc.errors()
        ]
        summary = "; ".join(f"{'.'.join(e['loc'])}: {e['msg']}" for e in errors[:5])
        raise ValidationFailed(f"invalid request: {summary}", details={"errors": errors}) from exc


def model(cls: type[M]) -> Callable[[Any], M]:
    """The answer is one ``cls``."""
    return cls.model_validate


def many(cls: type[M]) -> Callable[[Any], list[M]]:
    """The answer is a JSON list of ``cls``."""
    return TypeAdapter(list[cls]).validate_python  # type: ignore[valid-type]


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


#: names the person behind a shared token; the server records "<token name> (<operator>)"
OPERATOR_HEADER = "X-Agency-Operator"


def default_headers(token: str | None, operator: str | None = None) -> dict[str, str]:
    headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if operator:
        headers[OPERATOR_HEADER] = operator
    return headers


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
