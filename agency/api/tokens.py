"""API tokens (admin only): create (the secret is shown once), list, revoke."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path

from agency.api.auth import TokenBook
from agency.api.deps import Principal, Services, get_services, require
from agency.api.handlers import ERROR_RESPONSES
from agency.models import Role
from agency.models.api import TokenCreated, TokenCreateIn, TokenOut

router = APIRouter(prefix="/api/v1/tokens", tags=["tokens"], responses=ERROR_RESPONSES)


def _book(services: Services) -> TokenBook:
    assert services.tokens is not None  # get_services guarantees it
    return services.tokens


@router.get("", response_model=list[TokenOut])
async def list_tokens(
    services: Services = Depends(get_services), who: Principal = Depends(require(Role.ADMIN))
) -> list[TokenOut]:
    """Every token ever issued (never the secrets), revoked ones included."""
    return [TokenOut.of(t) for t in _book(services).list()]


@router.post("", status_code=201, response_model=TokenCreated)
async def create_token(
    body: TokenCreateIn,
    services: Services = Depends(get_services),
    who: Principal = Depends(require(Role.ADMIN)),
) -> TokenCreated:
    """A new token for ``name`` with ``role``; its name becomes the actor of what it does."""
    token, secret = await _book(services).create(body.name, body.role, who.name)
    return TokenCreated(token=TokenOut.of(token), secret=secret)


@router.delete("/{token_id}", response_model=TokenOut)
async def revoke_token(
    token_id: Annotated[str, Path(min_length=1, max_length=128)],
    services: Services = Depends(get_services),
    who: Principal = Depends(require(Role.ADMIN)),
) -> TokenOut:
    """Revoke a token at once (idempotent); it answers 401 from then on."""
    return TokenOut.of(await _book(services).revoke(token_id, who.name))
