"""API tokens: bearer secrets stored as SHA-256 hashes, every lookup an in-memory dict hit.

``AGENCY_WORKER_TOKEN``, when set on the control plane, is accepted as the ``local-workers``
worker token; the bootstrap admin token comes from ``token_secrets``.
"""

from __future__ import annotations

import asyncio
import hmac
import re
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from agency.control.task_tokens import TaskTokens, actor_of
from agency.control.token_secrets import hash_token, new_secret, read_or_create_admin_secret
from agency.errors import Conflict, NotFound, TokenExpired, Unauthorized, ValidationFailed
from agency.models import ApiToken, EventIn, Role, new_id, utcnow
from agency.settings import Settings
from agency.storage import TokenRepository

ADMIN_TOKEN_ID = "admin"
WORKER_TOKEN_ID = "local-workers"
# last use is written at most this often per token (and address): a write per request would
# put the hot path of every call behind the database writer
TOUCH_EVERY = timedelta(seconds=60)
MAX_GRACE = timedelta(days=30)


#: the header a client names the person behind the token with (the dashboard sends it)
OPERATOR_HEADER = "X-Agency-Operator"
OPERATOR_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._@+-]{0,63}")


@dataclass(frozen=True)
class Principal:
    """The authenticated caller: the token's name is the actor of every event it causes;
    ``address`` is where the call came from (recorded with the refusals it causes).

    ``scope`` is set for a task token: the id of the task it acts for, which may only create
    that task's children and read its subtree (the gate refuses every other route).

    ``operator`` is the person a shared token acts for (``X-Agency-Operator``), when the
    client names one: the actor becomes ``"<token name> (<operator>)"``. It only annotates:
    the role, the rate-limit bucket and the refusals stay the token's.
    """

    name: str
    role: Role
    token_id: str
    address: str | None = None
    scope: str | None = None
    operator: str | None = None

    def acting_for(self, operator: str | None) -> Principal:
        """This caller acting for ``operator`` (``None`` or blank: unchanged);
        ``ValidationFailed`` naming the header for a name that is not plain text."""
        if operator is None or not operator.strip():
            return self
        person = operator.strip()
        if not OPERATOR_NAME.fullmatch(person):
            raise ValidationFailed(
                f"{OPERATOR_HEADER} must be 1-64 letters, digits, spaces or ._@+- "
                "(starting with a letter or digit)",
                details={"field": OPERATOR_HEADER, "value": person[:100]},
            )
        return replace(self, name=f"{self.name} ({person})", operator=person)


ANONYMOUS = Principal(name="anonymous", role=Role.ADMIN, token_id="anonymous")


class TokenBook:
    """The API tokens: every lookup is an in-memory dict hit; changes are written through."""

    def __init__(
        self, repo: TokenRepository, settings: Settings, task_tokens: TaskTokens | None = None
    ) -> None:
        self._repo = repo
        self._settings = settings
        self._task_tokens = task_tokens
        self._by_hash: dict[str, ApiToken] = {}
        self._by_id: dict[str, ApiToken] = {}
        # every token write goes through this lock and writes the in-memory row as it is
        # then, so a last-use write never overwrites a revocation or a rotation
        self._lock = asyncio.Lock()
        self._touches: set[asyncio.Task[None]] = set()

    async def load(self) -> None:
        """Read every token, then make sure the bootstrap admin (and local worker) token exist."""
        for token in await self._repo.all():
            self._remember(token)
        await self._ensure(
            ADMIN_TOKEN_ID, "admin", Role.ADMIN, read_or_create_admin_secret(self._settings)
        )
        if self._settings.worker_token:
            await self._ensure(
                WORKER_TOKEN_ID, WORKER_TOKEN_ID, Role.WORKER, self._settings.worker_token
            )

    def _remember(self, token: ApiToken) -> None:
        old = self._by_id.get(token.id)
        if old is not None:
            self._by_hash.pop(old.token_hash, None)
            if old.previous_hash:
                self._by_hash.pop(old.previous_hash, None)
        self._by_id[token.id] = token
        self._by_hash[token.token_hash] = token
        if token.previous_hash:
            self._by_hash[token.previous_hash] = token

    async def _ensure(self, token_id: str, name: str, role: Role, secret: str) -> None:
        digest = hash_token(secret)
        current = self._by_id.get(token_id)
        if current is not None and current.token_hash == digest and current.revoked_at is None:
            return
        token = ApiToken(id=token_id, name=name, role=role, token_hash=digest, created_by="system")
        await self._repo.save(
            token,
            EventIn(
                actor="system",
                action="token.bootstrapped",
                resource_type="token",
                resource_id=token_id,
                details={"name": name, "role": role.value},
            ),
        )
        self._remember(token)

    def authenticate(self, secret: str | None, address: str | None = None) -> Principal:
        """The principal of ``secret``; ``Unauthorized`` when missing, unknown or revoked,
        ``TokenExpired`` past its expiry or its rotation's grace period. ``address`` is the
        caller's, recorded as the token's last use. A task token (``agyt_``) gives a principal
        scoped to its task, also with auth off (a task then acts as itself, not as admin)."""
        if secret and self._task_tokens is not None and TaskTokens.is_task_token(secret):
            try:
                grant = self._task_tokens.verify(secret)
            except Unauthorized:
                if not self._settings.auth:
                    return replace(ANONYMOUS, address=address)
                raise
            actor = actor_of(grant.task_id)
            return Principal(
                name=actor, role=Role.VIEWER, token_id=actor, address=address, scope=grant.task_id
            )
        if not self._settings.auth:
            return replace(ANONYMOUS, address=address)
        if not secret:
            raise Unauthorized("a bearer token is required (Authorization: Bearer <token>)")
        digest = hash_token(secret)
        token = self._by_hash.get(digest)
        # compare_digest keeps the check constant-time even though the dict lookup found it
        if token is None or not (
            hmac.compare_digest(token.token_hash, digest)
            or hmac.compare_digest(token.previous_hash or "", digest)
        ):
            raise Unauthorized("unknown token")
        if token.revoked_at is not None:
            raise Unauthorized("this token was revoked", details={"token_id": token.id})
        now = utcnow()
        if token.expires_at is not None and now >= token.expires_at:
            raise TokenExpired(
                f"this token expired at {token.expires_at.isoformat()}",
                details={"token_id": token.id, "expired_at": token.expires_at.isoformat()},
            )
        if digest != token.token_hash and (
            token.previous_valid_until is None or now >= token.previous_valid_until
        ):
            raise TokenExpired(
                "this secret was rotated and its grace period has ended; use the new one",
                details={"token_id": token.id, "rotated_at": str(token.rotated_at)},
            )
        self._touch(token, now, address)
        return Principal(name=token.name, role=token.role, token_id=token.id, address=address)

    def _touch(self, token: ApiToken, now: datetime, address: str | None) -> None:
        last = token.last_used_at
        if last is not None and now - last < TOUCH_EVERY and address == token.last_used_addr:
            return
        self._remember(token.model_copy(update={"last_used_at": now, "last_used_addr": address}))
        try:
            task = asyncio.get_running_loop().create_task(self._persist(token.id))
        except RuntimeError:  # no loop (a synchronous caller): memory has it, the next use writes
            return
        self._touches.add(task)
        task.add_done_callback(self._touches.discard)

    async def _persist(self, token_id: str) -> None:
        async with self._lock:
            await self._repo.save(self._by_id[token_id])

    def list(self) -> list[ApiToken]:
        return sorted(self._by_id.values(), key=lambda t: (t.created_at, t.id))

    def get(self, token_id: str) -> ApiToken:
        token = self._by_id.get(token_id)
        if token is None:
            raise NotFound(f"no token {token_id!r}", details={"token_id": token_id})
        return token

    async def create(
        self, name: str, role: Role, actor: str, expires_at: datetime | None = None
    ) -> tuple[ApiToken, str]:
        """A new token (valid until ``expires_at`` when given); the secret is returned once
        and never stored."""
        if expires_at is not None and expires_at <= utcnow():
            raise ValidationFailed(
                "expires_at is in the past", details={"expires_at": expires_at.isoformat()}
            )
        if any(t.name == name and t.revoked_at is None for t in self._by_id.values()):
            raise Conflict(
                f"an active token named {name!r} exists; revoke it first", details={"name": name}
            )
        secret = new_secret()
        token = ApiToken(
            id=new_id(),
            name=name,
            role=role,
            token_hash=hash_token(secret),
            created_by=actor,
            expires_at=expires_at,
        )
        details: dict[str, str] = {"name": name, "role": role.value}
        if expires_at is not None:
            details["expires_at"] = expires_at.isoformat()
        async with self._lock:
            await self._repo.save(
                token,
                EventIn(
                    actor=actor,
                    action="token.created",
                    resource_type="token",
                    resource_id=token.id,
                    details=details,
                ),
            )
            self._remember(token)
        return token, secret

    async def rotate_secret(
        self, token_id: str, grace: timedelta, actor: str
    ) -> tuple[ApiToken, str]:
        """A new secret for ``token_id`` (returned once); the current one keeps working for
        ``grace``, then answers ``token_expired``. An earlier rotation's old secret stops now."""
        self._refuse_bootstrap(token_id)
        if grace < timedelta(0) or grace > MAX_GRACE:
            raise ValidationFailed(
                f"the grace period must be between 0 and {MAX_GRACE.days} days",
                details={"grace_seconds": grace.total_seconds()},
            )
        secret = new_secret()
        async with self._lock:
            token = self.get(token_id)
            if token.revoked_at is not None:
                raise Conflict("this token was revoked", details={"token_id": token_id})
            now = utcnow()
            rotated = token.model_copy(
                update={
                    "token_hash": hash_token(secret),
                    "previous_hash": token.token_hash,
                    "previous_valid_until": now + grace,
                    "rotated_at": now,
                }
            )
            await self._repo.save(
                rotated,
                EventIn(
                    actor=actor,
                    action="token.rotated",
                    resource_type="token",
                    resource_id=token_id,
                    details={"name": token.name, "grace_seconds": grace.total_seconds()},
                ),
            )
            self._remember(rotated)
        return rotated, secret

    async def rotate(self, name: str, role: Role, actor: str) -> str:
        """Revoke every active token named ``name`` and issue a new one (e.g. the dashboard's
        at each ``agency up``); returns the new secret."""
        for old in [t for t in self._by_id.values() if t.name == name and t.revoked_at is None]:
            await self.revoke(old.id, actor)
        _, secret = await self.create(name, role, actor)
        return secret

    async def revoke(self, token_id: str, actor: str) -> ApiToken:
        """Revoke a token (idempotent). The bootstrap tokens are rotated by config instead."""
        self._refuse_bootstrap(token_id)
        async with self._lock:
            token = self.get(token_id)
            if token.revoked_at is not None:
                return token
            revoked = token.model_copy(update={"revoked_at": utcnow()})
            await self._repo.save(
                revoked,
                EventIn(
                    actor=actor,
                    action="token.revoked",
                    resource_type="token",
                    resource_id=token_id,
                    details={"name": token.name},
                ),
            )
            self._remember(revoked)
        return revoked

    def _refuse_bootstrap(self, token_id: str) -> None:
        self.get(token_id)
        if token_id in (ADMIN_TOKEN_ID, WORKER_TOKEN_ID):
            raise Conflict(
                "bootstrap tokens are rotated by changing AGENCY_ADMIN_TOKEN / AGENCY_WORKER_TOKEN "
                "(or deleting admin.token) and restarting",
                details={"token_id": token_id},
            )
