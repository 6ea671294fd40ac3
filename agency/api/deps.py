"""What every route depends on: the running services and the caller's identity.

Routes take ``services: Services = Depends(get_services)`` and
``who: Principal = Depends(require(Role.OPERATOR))``. ``require`` reads the bearer token from
the ``Authorization`` header, or from ``?token=`` (browsers cannot set headers on WebSocket or
EventSource connections), checks the role and charges the token's rate-limit bucket.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry
from starlette.requests import HTTPConnection

from agency.errors import Forbidden, ServiceUnavailable, Unauthorized
from agency.models import Role, utcnow
from agency.settings import Settings

if TYPE_CHECKING:
    from agency.api.auth import RateLimiter, TokenBook
    from agency.api.hub import MetricsHub
    from agency.api.telemetry import ApiMetrics
    from agency.control.schedules import ScheduleService
    from agency.fleet import Registry
    from agency.orchestrator import Orchestrator
    from agency.storage import Store


@dataclass(frozen=True)
class Principal:
    """The authenticated caller: the token's name is the actor of every event it causes."""

    name: str
    role: Role
    token_id: str


@dataclass
class Services:
    """The control plane's long-lived parts, shared by every request of one app.

    ``tokens``, ``limiter``, ``api_metrics`` and ``hub`` are filled in by the app's lifespan when left
    ``None``, so a test can build ``Services`` from just the four core parts.
    """

    settings: Settings
    store: Store
    registry: Registry
    orchestrator: Orchestrator
    metrics: CollectorRegistry = field(default_factory=CollectorRegistry)
    started_at: datetime = field(default_factory=utcnow)
    tokens: TokenBook | None = None
    limiter: RateLimiter | None = None
    api_metrics: ApiMetrics | None = None
    hub: MetricsHub | None = None
    schedules: ScheduleService | None = None


def services_of(conn: HTTPConnection) -> Services:
    """The ``Services`` of the app serving this request (HTTP or WebSocket)."""
    services: Services | None = getattr(conn.app.state, "services", None)
    if services is None or services.tokens is None:
        raise ServiceUnavailable("the control plane is starting or stopping")
    return services


async def get_services(conn: HTTPConnection) -> Services:
    """``services_of`` as a FastAPI dependency: async, so it runs on the loop (FastAPI runs
    a plain ``def`` dependency in a thread pool: a thread hop on every request)."""
    return services_of(conn)


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
    services = services_of(conn)
    assert services.tokens is not None  # services_of guarantees it
    principal = services.tokens.authenticate(bearer_token(conn))
    # worker traffic scales with task throughput, so only people and scripts are limited
    if services.limiter is not None and principal.role is not Role.WORKER:
        services.limiter.charge(principal.token_id)
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
