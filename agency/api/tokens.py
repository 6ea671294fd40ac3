"""API tokens (admin only): create (the secret is shown once), list, revoke."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Path

from agency.api.deps import Principal, get_plane, require
from agency.api.handlers import ERROR_RESPONSES
from agency.control import ControlPlane
from agency.models import Role
from agency.models.api import TokenCreated, TokenCreateIn, TokenOut, TokenRotateIn

router = APIRouter(prefix="/api/v1/tokens", tags=["tokens"], responses=ERROR_RESPONSES)


@router.get("", response_model=list[TokenOut])
async def list_tokens(
    plane: ControlPlane = Depends(get_plane), who: Principal = Depends(require(Role.ADMIN))
) -> list[TokenOut]:
    """Every token ever issued (never the secrets), revoked ones included."""
    return [TokenOut.of(t) for t in plane.tokens.list()]


@router.post("", status_code=201, response_model=TokenCreated)
async def create_token(
    body: TokenCreateIn,
    plane: ControlPlane = Depends(get_plane),
    who: Principal = Depends(require(Role.ADMIN)),
) -> TokenCreated:
    """A new token for ``name`` with ``role``; its name becomes the actor of what it does."""
    token, secret = await plane.tokens.create(body.name, body.role, who.name, body.expires_at)
    return TokenCreated(token=TokenOut.of(token), secret=secret)


@router.delete("/{token_id}", response_model=TokenOut)
async def revoke_token(
    token_id: Annotated[str, Path(min_length=1, max_length=128)],
    plane: ControlPlane = Depends(get_plane),
    who: Principal = Depends(require(Role.ADMIN)),
) -> TokenOut:
    """Revoke a token at once (idempotent); it answers 401 from then on."""
    return TokenOut.of(await plane.tokens.revoke(token_id, who.name))


@router.post("/{token_id}/rotate", response_model=TokenCreated)
async def rotate_token(
    token_id: Annotated[str, Path(min_length=1, max_length=128)],
    body: TokenRotateIn,
    plane: ControlPlane = Depends(get_plane),
    who: Principal = Depends(require(Role.ADMIN)),
) -> TokenCreated:
    """A new secret for the token (shown once); the old one works for ``grace_seconds``."""
    grace = timedelta(seconds=body.grace_seconds)
    token, secret = await plane.tokens.rotate_secret(token_id, grace, who.name)
    return TokenCreated(token=TokenOut.of(token), secret=secret)
