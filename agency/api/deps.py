"""What every route depends on: the running control plane and the caller's identity.

Routes take ``plane: ControlPlane = Depends(get_plane)`` and
``who: Principal = Depends(require(Role.OPERATOR))``. ``require`` reads the bearer token from
the ``Authorization`` header, or from ``?token=`` (browsers cannot set headers on WebSocket or
EventSource connections), checks the role and charges the token's rate-limit bucket.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import HTTPConnection

from agency.api.telemetry import ApiMetrics
from agency.control import ControlPlane, Principal
from agency.errors import Forbidden, ServiceUnavailable, Unauthorized
from agency.models import Role

__all__ = ["Principal", "api_metrics_of", "authenticate", "get_plane", "plane_of", "require"]


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


def bearer_token(conn: HTTPConnection) -> str | None:
    """The token of a request: ``Authorization: Bearer <t>``, else the ``token`` query parameter."""
    header = conn.headers.get("authorization")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise Unauthorized("the Authorization header must be 'Bearer <token>'")
        return value.strip()
    return conn.query_params.get("token") or None


def authenticate(conn: HTTPConnection) -> Principal:
    """The caller of ``conn``, rate-limited; ``Unauthorized`` without a known, live token."""
    plane = plane_of(conn)
    principal = plane.tokens.authenticate(bearer_token(conn))
    # worker traffic scales with task throughput, so only people and scripts are limited
    if principal.role is not Role.WORKER:
        plane.limiter.charge(principal.token_id)
    return principal


def require(role: Role) -> Callable[[HTTPConnection], Awaitable[Principal]]:
    """A FastAPI dependency: the caller, who must hold ``role`` or a stronger one.

    401 without a token or with an unknown/revoked one, 403 with a too-weak one,
    429 (with ``Retry-After``) past the token's rate limit.
    """

    async def dependency(conn: HTTPConnection) -> Principal:
        principal = authenticate(conn)
        if not principal.role.allows(role):
            raise Forbidden(
                f"this needs the {role.value} role; token {principal.name!r} is {principal.role.value}",
                details={"needed": role.value, "role": principal.role.value},
            )
        return principal

    dependency.__name__ = f"require_{role.value}"
    return dependency
