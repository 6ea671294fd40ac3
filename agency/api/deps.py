"""What every route depends on: the running control plane and the caller's identity.

Routes take ``plane: ControlPlane = Depends(get_plane)`` and
``who: Principal = Depends(require(Role.OPERATOR))``. ``require`` reads the bearer token from
the ``Authorization`` header, or from ``?token=`` (browsers cannot set headers on WebSocket or
EventSource connections), checks the role and charges the token's rate-limit bucket: all of it is the control plane's
``Gate``, which audits every refusal; this module only lifts the plain values off the request.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import HTTPConnection

from agency.api.telemetry import ApiMetrics
from agency.control import ControlPlane, Principal
from agency.control.tokens import OPERATOR_HEADER
from agency.errors import ServiceUnavailable
from agency.models import Role

__all__ = [
    "Principal",
    "address_of",
    "api_metrics_of",
    "authenticate",
    "get_plane",
    "plane_of",
    "require",
]


def plane_of(conn: HTTPConnection) -> ControlPlane:
    """The ``ControlPlane`` of the app serving this request (HTTP or WebSocket)."""
    plane: ControlPlane | None = getattr(conn.app.state, "plane", None)
    if plane is None:
        raise ServiceUnavailable("the control plane is starting or stopping")
    return plane


async def get_plane(conn: HTTPConnection) -> ControlPlane:
    """``plane_of`` as a FastAPI dependency: async, so it runs on the loop (FastAPI runs
    a plain ``def`` dependency in a thread pool: a thread hop on every request)."""
    return plane_of(conn)


def api_metrics_of(conn: HTTPConnection) -> ApiMetrics:
    """The API's own metrics (request counts, stream clients) of the serving app."""
    metrics: ApiMetrics | None = getattr(conn.app.state, "api_metrics", None)
    if metrics is None:
        raise ServiceUnavailable("the control plane is starting or stopping")
    return metrics


def address_of(conn: HTTPConnection) -> str | None:
    """The caller's source address (HTTP or WebSocket), as services take it: a plain value."""
    return conn.client.host if conn.client is not None else None


def admit(conn: HTTPConnection, role: Role | None = None, *, scoped: bool = False) -> Principal:
    """The caller of ``conn``, rate-limited and holding ``role`` when given; every refusal
    (401, 429, 403) is audited by the gate. A task token is admitted only when ``scoped``. A
    named operator (``X-Agency-Operator``) annotates the actor after the token is checked, so
    it never changes what the token may do."""
    principal = plane_of(conn).gate.admit(
        conn.headers.get("authorization"),
        conn.query_params.get("token"),
        address_of(conn),
        conn.url.path,
        role,
        scoped=scoped,
    )
    return principal.acting_for(conn.headers.get(OPERATOR_HEADER))


def authenticate(conn: HTTPConnection) -> Principal:
    """The caller of ``conn``, rate-limited; ``Unauthorized`` without a known, live token."""
    return admit(conn)


def require(
    role: Role, *, scoped: bool = False
) -> Callable[[HTTPConnection], Awaitable[Principal]]:
    """A FastAPI dependency: the caller, who must hold ``role`` or a stronger one.

    401 without a token or with an unknown/revoked one, 403 with a too-weak one,
    429 (with ``Retry-After``) past the token's rate limit. With ``scoped`` a task token is
    admitted too (``who.scope`` set): the route must then keep it to its task's subtree.
    """

    async def dependency(conn: HTTPConnection) -> Principal:
        return admit(conn, role, scoped=scoped)

    dependency.__name__ = f"require_{role.value}" + ("_or_task" if scoped else "")
    return dependency
