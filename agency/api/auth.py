"""Bearer tokens (stored as SHA-256 hashes, cached in memory) and the per-token rate limit.

The bootstrap admin token is ``AGENCY_ADMIN_TOKEN`` or, when unset, a random one kept in
``<data_dir>/admin.token`` (mode 0600) and reused across restarts. ``AGENCY_WORKER_TOKEN``,
when set on the control plane, is accepted as the ``local-workers`` worker token.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import secrets
import time
from collections.abc import Callable
from pathlib import Path

from agency.api.deps import Principal
from agency.errors import ConfigError, Conflict, NotFound, RateLimited, Unauthorized
from agency.models import ApiToken, EventIn, Role, new_id, utcnow
from agency.settings import Settings
from agency.storage import Store, Upsert

ADMIN_TOKEN_ID = "admin"
WORKER_TOKEN_ID = "local-workers"
ANONYMOUS = Principal(name="anonymous", role=Role.ADMIN, token_id="anonymous")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_exposure(settings: Settings) -> None:
    """Refuse to serve beyond loopback without auth (``ConfigError``)."""
    if not settings.auth and not is_loopback(settings.host):
        raise ConfigError(
            f"refusing to listen on {settings.host} with AGENCY_AUTH=false: anyone could act as admin; "
            "listen on 127.0.0.1 or turn auth on",
            details={"host": settings.host},
        )


def hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_secret() -> str:
    """A fresh token secret; the prefix makes leaked tokens easy to grep for."""
    return "agy_" + secrets.token_urlsafe(32)


def admin_token_path(settings: Settings) -> Path:
    return settings.data_dir / "admin.token"


def read_or_create_admin_secret(settings: Settings) -> str:
    """``AGENCY_ADMIN_TOKEN``, else the token file's content, else a new file (mode 0600)."""
    if settings.admin_token:
        return settings.admin_token
    path = admin_token_path(settings)
    if path.exists():
        existing = path.read_text().strip()
        if existing:
            return existing
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = new_secret()
    # O_EXCL-free but created with 0600 from the start, so the secret is never world-readable
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(secret + "\n")
    os.chmod(path, 0o600)
    return secret


class TokenBook:
    """The API tokens: every lookup is an in-memory dict hit; changes are written through."""

    def __init__(self, store: Store, settings: Settings) -> None:
        self._store = store
        self._settings = settings
        self._by_hash: dict[str, ApiToken] = {}
        self._by_id: dict[str, ApiToken] = {}

    async def load(self) -> None:
        """Read every token, then make sure the bootstrap admin (and local worker) token exist."""
        rows = await self._store.fetch("SELECT * FROM api_tokens")
        for row in rows:
            self._remember(ApiToken.model_validate(row))
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
        await self._store.write(
            Upsert("api_tokens", [token.model_dump(mode="python")]),
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
        await self._store.write(
            Upsert("api_tokens", [token.model_dump(mode="python")]),
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
        await self._store.write(
            Upsert("api_tokens", [revoked.model_dump(mode="python")]),
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


class RateLimiter:
    """Token bucket per API token: ``rate`` requests/s sustained, bursts of twice that."""

    def __init__(self, rate: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = 2.0 * rate
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}

    def charge(self, key: str) -> None:
        """Take one request from ``key``'s bucket; ``RateLimited`` when it is empty."""
        now = self._clock()
        level, last = self._buckets.get(key, (self.burst, now))
        level = min(self.burst, level + (now - last) * self.rate)
        if level < 1.0:
            self._buckets[key] = (level, now)
            raise RateLimited(
                f"rate limit of {self.rate:g} requests/s exceeded",
                retry_after=round((1.0 - level) / self.rate, 3),
            )
        self._buckets[key] = (level - 1.0, now)
