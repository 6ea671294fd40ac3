"""One exception tree for agency; every class carries the HTTP status the API answers with.

Errors from third-party libraries (httpx, tenacity, pybreaker, duckdb) are translated into
these at the boundary where they occur, so callers only ever catch ``AgencyError``.
"""

from __future__ import annotations

from typing import Any, ClassVar


class AgencyError(Exception):
    """Base of every error agency raises on purpose."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = details or {}

    def to_dict(self) -> dict[str, Any]:
        """The stable JSON error shape: ``{"error": {"code", "message", "details"}}``."""
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


# --- 4xx: the caller can fix it -------------------------------------------------------------


class BadRequest(AgencyError):
    """The request is malformed or names something impossible."""

    status = 400
    code = "bad_request"


class ValidationFailed(BadRequest):
    """A body or parameter failed validation (wrong type, unknown field, out of range)."""

    status = 422
    code = "validation_error"


class InvalidSpec(BadRequest):
    """A task spec cannot run: wrong kind, missing argv, bad timeout..."""

    code = "invalid_spec"


class InvalidCursor(BadRequest):
    """A pagination cursor that this server did not issue or cannot decode."""

    code = "invalid_cursor"


class QueryRefused(BadRequest):
    """User SQL that is not a single read-only statement, or touches files or the network."""

    code = "query_refused"


class QueryFailed(BadRequest):
    """User SQL that DuckDB could not parse or bind."""

    code = "query_failed"


class Unauthorized(AgencyError):
    """No token, or a token that is unknown or revoked."""

    status = 401
    code = "unauthorized"


class TokenExpired(Unauthorized):
    """The token's ``expires_at`` passed, or its rotated-out secret's grace period ended."""

    code = "token_expired"


class Forbidden(AgencyError):
    """The token is valid but its role is too weak for the action."""

    status = 403
    code = "forbidden"


class SandboxDenied(Forbidden):
    """A path in a task spec resolves outside the worker's allowed roots."""

    code = "sandbox_denied"


class OutOfScope(Forbidden):
    """A task token used beyond its task's children and subtree."""

    code = "out_of_scope"


class HostNotAllowed(Forbidden):
    """A URL whose host is outside the allowlist (SSRF guard)."""

    code = "host_not_allowed"


class WorkerTLSRefused(Forbidden):
    """A worker registration refused because its https certificate does not verify."""

    code = "worker_tls_refused"


class NotFound(AgencyError):
    """The named task, worker, session, query... does not exist."""

    status = 404
    code = "not_found"


class RequestTimeout(AgencyError):
    """User work that ran past its time limit and was interrupted."""

    status = 408
    code = "timeout"


class QueryTimeout(RequestTimeout):
    """A user query interrupted at its time limit."""

    code = "query_timeout"


class Conflict(AgencyError):
    """The request conflicts with the current state of the resource."""

    status = 409
    code = "conflict"


class InvalidTransition(Conflict):
    """A task state change that the lifecycle table does not allow."""

    code = "invalid_transition"


class WorkerFull(Conflict):
    """The worker has no free slot (protocol answer 409)."""

    code = "worker_full"


class VersionConflict(Conflict):
    """An update that names a version of the resource other than its current one
    (``details.current_version`` is the one to read again)."""

    code = "version_conflict"


class PreconditionFailed(AgencyError):
    """An ``If-Match`` header that does not name the resource's current version."""

    status = 412
    code = "precondition_failed"


class PayloadTooLarge(AgencyError):
    """A request body or message over the configured size limit."""

    status = 413
    code = "payload_too_large"


class RateLimited(AgencyError):
    """Too many requests for one token; ``retry_after`` says when to come back (seconds)."""

    status = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: float = 1.0, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after
        self.details.setdefault("retry_after", retry_after)


# --- 5xx: the server or a dependency failed --------------------------------------------------


class ConfigError(AgencyError):
    """A setting has an invalid value."""

    code = "config_error"


class StorageError(AgencyError):
    """The database failed in a way the caller cannot fix."""

    code = "storage_error"


class StoreClosed(StorageError):
    """A write or read on a store that is closed or closing."""

    status = 503
    code = "store_closed"


class DatabaseLocked(StorageError):
    """Another process holds the DuckDB file (one writing process per file)."""

    status = 503
    code = "database_locked"


class DatabaseCorrupt(StorageError):
    """The file is not a readable DuckDB database."""

    code = "database_corrupt"


class MigrationError(StorageError):
    """A migration failed; its transaction was rolled back and the version is unchanged."""

    code = "migration_error"


class AuditChainBroken(StorageError):
    """The hash chain of the events table does not verify."""

    code = "audit_chain_broken"


class WorkerError(AgencyError):
    """A call to a worker failed."""

    status = 502
    code = "worker_error"


class WorkerUnavailable(WorkerError):
    """The worker could not be reached, or answered 502/503/504 after every retry."""

    status = 503
    code = "worker_unavailable"


class WorkerTimeout(WorkerError):
    """The worker did not answer in time, after every retry."""

    status = 504
    code = "worker_timeout"


class CircuitOpen(WorkerUnavailable):
    """The worker's circuit breaker is open: the call was refused without touching the network."""

    code = "circuit_open"


class WorkerRejected(WorkerError):
    """The worker answered with a 4xx that is not retried (bad spec, unknown task)."""

    code = "worker_rejected"


class WorkerTLSError(WorkerError):
    """The worker's certificate does not verify (CA, hostname or pinned fingerprint).

    Never retried: another attempt meets the same certificate; it counts toward the breaker.
    """

    code = "worker_tls"


class ServiceUnavailable(AgencyError):
    """The control plane is starting, draining or cannot reach a dependency."""

    status = 503
    code = "service_unavailable"


def all_error_classes() -> list[type[AgencyError]]:
    """Every class of the tree, for tests and for the API's documented error codes."""
    seen: list[type[AgencyError]] = []
    stack: list[type[AgencyError]] = [AgencyError]
    while stack:
        cls = stack.pop()
        seen.append(cls)
        stack.extend(cls.__subclasses__())
    return seen
