"""API tokens: bearer secrets stored as SHA-256 hashes, every lookup an in-memory dict hit.

``AGENCY_WORKER_TOKEN``, when set on the control plane, is accepted as the ``local-workers``
worker token; the bootstrap admin token comes from ``token_secrets``.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from agency.control.token_secrets import hash_token, new_secret, read_or_create_admin_secret
from agency.errors import Conflict, NotFound, Unauthorized
from agency.models import ApiToken, EventIn, Role, new_id, utcnow
from agency.settings import Settings
from agency.storage import TokenRepository

ADMIN_TOKEN_ID = "admin"
WORKER_TOKEN_ID = "local-workers"


@dataclass(frozen=True)
class Principal:
    """The authenticated caller: the token's name is the actor of every event it causes."""

    name: str
    role: Role
    token_id: str


ANONYMOUS = Principal(name="anonymous", role=Role.ADMIN, token_id="anonymous")


class TokenBook:
    """The API tokens: every lookup is an in-memory dict hit; changes are written through."""

    def __init__(self, repo: TokenRepository, settings: Settings) -> None:
        self._repo = repo
        self._settings = settings
        self._by_hash: dict[str, ApiToken] = {}
        self._by_id: dict[str, ApiToken] = {}

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
        self._by_id[token.id] = token
        self._by_hash[token.token_hash] = token

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

    def authenticate(self, secret: str | None) -> Principal:
        """The principal of ``secret``; ``Unauthorized`` when missing, unknown or revoked."""
        if not self._settings.auth:
            return ANONYMOUS
        if not secret:
            raise Unauthorized("a bearer token is required (Authorization: Bearer <token>)")
        token = self._by_hash.get(hash_token(secret))
        # compare_digest keeps the check constant-time even though the dict lookup found it
        if token is None or not hmac.compare_digest(token.token_hash, hash_token(secret)):
            raise Unauthorized("unknown token")
        if token.revoked_at is not None:
            raise Unauthorized("this token was revoked", details={"token_id": token.id})
        return Principal(name=token.name, role=token.role, token_id=token.id)

    def list(self) -> list[ApiToken]:
        return sorted(self._by_id.values(), key=lambda t: (t.created_at, t.id))

    def get(self, token_id: str) -> ApiToken:
        token = self._by_id.get(token_id)
        if token is None:
            raise NotFound(f"no token {token_id!r}", details={"token_id": token_id})
        return token

    async def create(self, name: str, role: Role, actor: str) -> tuple[ApiToken, str]:
        """A new token; the secret is returned once and never stored."""
        if any(t.name == name and t.revoked_at is None for t in self._by_id.values()):
            raise Conflict(
                f"an active token named {name!r} exists; revoke it first", details={"name": name}
            )
        secret = new_secret()
        token = ApiToken(
            id=new_id(), name=name, role=role, token_hash=hash_token(secret), created_by=actor
        )
        await self._repo.save(
            token,
            EventIn(
                actor=actor,
                action="token.created",
                resource_type="token",
                resource_id=token.id,
                details={"name": name, "role": role.value},
            ),
        )
        self._remember(token)
        return token, secret

    async def rotate(self, name: str, role: Role, actor: str) -> str:
        """Revoke every active token named ``name`` and issue a new one (e.g. the dashboard's
        at each ``agency up``); returns the new secret."""
        for old in [t for t in self._by_id.values() if t.name == name and t.revoked_at is None]:
            await self.revoke(old.id, actor)
        _, secret = await self.create(name, role, actor)
        return secret

    async def revoke(self, token_id: str, actor: str) -> ApiToken:
        """Revoke a token (idempotent). The bootstrap tokens are rotated by config instead."""
        token = self.get(token_id)
        if token_id in (ADMIN_TOKEN_ID, WORKER_TOKEN_ID):
            raise Conflict(
                "bootstrap tokens are rotated by changing AGENCY_ADMIN_TOKEN / AGENCY_WORKER_TOKEN "
                "(or deleting admin.token) and restarting",
                details={"token_id": token_id},
            )
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
