"""Admission of every API call: the bearer token, the rate limit and the role, each refusal
audited (``auth.denied`` 401, ``ratelimit.refused`` 429, ``auth.forbidden`` 403).

The API hands over plain values (the ``Authorization`` header, the ``?token=`` parameter, the
caller's address and the path), never an HTTP object. Admitted calls pay nothing extra; a
refusal queues its event in the background (``Refusals``) and is sampled:

- 401 per source address for a missing, malformed or unknown token (an unauthenticated flood
  cannot flood the chain), per token and address for a revoked or expired one;
- 429 per token; 403 per token and path.
"""

from __future__ import annotations

from agency.control.ratelimit import RateLimiter
from agency.control.refusals import Refusals
from agency.control.tokens import Principal, TokenBook
from agency.errors import AgencyError, Forbidden, NotFound, OutOfScope, RateLimited, Unauthorized
from agency.models import Role

UNKNOWN = "unknown"  # the actor of a refusal whose caller has no known token


def bearer_secret(header: str | None, query_token: str | None) -> str | None:
    """The token of a call: ``Authorization: Bearer <t>``, else the ``token`` query parameter."""
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise Unauthorized("the Authorization header must be 'Bearer <token>'")
        return value.strip()
    return query_token or None


class Gate:
    """Who may call: authenticates, charges the rate limit, checks the role, audits refusals."""

    def __init__(self, tokens: TokenBook, limiter: RateLimiter, refusals: Refusals) -> None:
        self.tokens = tokens
        self.limiter = limiter
        self.refusals = refusals

    def admit(
        self,
        header: str | None,
        query_token: str | None,
        address: str | None,
        path: str,
        role: Role | None = None,
        *,
        scoped: bool = False,
    ) -> Principal:
        """The caller, rate-limited and holding ``role`` (when given); ``Unauthorized``,
        ``RateLimited`` or ``Forbidden`` otherwise, each recorded as a refusal.

        A task token (``Principal.scope``) is admitted only where ``scoped`` says the route
        checks the scope itself (``out_of_scope`` 403 elsewhere), and then whatever ``role``."""
        try:
            principal = self.tokens.authenticate(bearer_secret(header, query_token), address)
        except Unauthorized as exc:
            self._denied(exc, address, path)
            raise
        # worker traffic scales with task throughput, so only people and scripts are limited
        if principal.role is not Role.WORKER:
            self.charge(principal, path)
        if principal.scope is not None:
            if not scoped:
                raise self.out_of_scope(principal, path)
            return principal
        if role is not None and not principal.role.allows(role):
            refused = Forbidden(
                f"this needs the {role.value} role; token {principal.name!r} is {principal.role.value}",
                details={"needed": role.value, "role": principal.role.value},
            )
            self.refusals.refuse(
                "auth.forbidden",
                actor=principal.name,
                resource_type="route",
                resource_id=path,
                address=address,
                reason=refused.message,
                key=(principal.token_id, path),
                code=refused.code,
                token_id=principal.token_id,
                needed=role.value,
                role=principal.role.value,
            )
            raise refused
        return principal

    def out_of_scope(
        self, principal: Principal, path: str, reason: str | None = None
    ) -> OutOfScope:
        """The refusal of a task token outside its scope, recorded (sampled per token and path)."""
        refused = OutOfScope(
            reason
            or "a task token may only create its task's children and read its task and their "
            f"subtree; {path} is outside that scope",
            details={"scope": f"task:{principal.scope}", "path": path},
        )
        self.refusals.refuse(
            "auth.forbidden",
            actor=principal.name,
            resource_type="route",
            resource_id=path,
            address=principal.address,
            reason=refused.message,
            key=(principal.token_id, path),
            code=refused.code,
            token_id=principal.token_id,
            scope=f"task:{principal.scope}",
        )
        return refused

    def charge(self, principal: Principal, path: str) -> None:
        """Take one request from the caller's bucket (also per chat message); a 429 is
        recorded at most once per token per interval, with the count it stands for."""
        try:
            self.limiter.charge(principal.token_id)
        except RateLimited as exc:
            self.refusals.refuse(
                "ratelimit.refused",
                actor=principal.name,
                resource_type="token",
                resource_id=principal.token_id,
                address=principal.address,
                reason=exc.message,
                key=principal.token_id,
                code=exc.code,
                path=path,
            )
            raise

    def _denied(self, exc: AgencyError, address: str | None, path: str) -> None:
        token_id = exc.details.get("token_id")
        actor = UNKNOWN
        if isinstance(token_id, str):
            try:
                actor = self.tokens.get(token_id).name
            except NotFound:
                token_id = None
        else:
            token_id = None
        self.refusals.refuse(
            "auth.denied",
            actor=actor,
            resource_type="token",
            resource_id=token_id or UNKNOWN,
            address=address,
            reason=exc.message,
            # a known token is sampled on its own; unknown ones only by where they come from
            key=(token_id, address),
            code=exc.code,
            path=path,
        )
