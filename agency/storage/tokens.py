"""``TokenRepository``: the ``api_tokens`` table (SHA-256 hashes of bearer secrets)."""

from __future__ import annotations

from agency.models import ApiToken, EventIn
from agency.storage.ops import Upsert
from agency.storage.repository import Repository


class TokenRepository(Repository):
    """Every token, revoked ones included; a token is written as its whole row."""

    async def all(self) -> list[ApiToken]:
        """Every token, oldest first (the control plane caches them all in memory)."""
        return await self._all(ApiToken, "SELECT * FROM api_tokens ORDER BY created_at, id")

    async def get_by_hash(self, token_hash: str) -> ApiToken | None:
        return await self._one(
            ApiToken, "SELECT * FROM api_tokens WHERE token_hash = ? LIMIT 1", [token_hash]
        )

    async def save(self, token: ApiToken, *events: EventIn) -> None:
        """Store ``token`` (new, or revoked) with its events, in one write."""
        await self._write(Upsert("api_tokens", [token.model_dump(mode="python")]), *events)
