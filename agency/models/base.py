"""The basics every model shares: UTC time, sortable ids, strict models, token roles."""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime
from enum import StrEnum
from importlib.metadata import PackageNotFoundError, version

from pydantic import BaseModel, ConfigDict

try:
    __version__ = version("agency")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"


def utcnow() -> datetime:
    """Timezone-aware now in UTC; every stored time is UTC."""
    return datetime.now(UTC)


def new_id() -> str:
    """A 24-hex-digit id that sorts by creation time (ms clock, then 48 random bits)."""
    return f"{int(time.time() * 1000):012x}{secrets.token_hex(6)}"


class Strict(BaseModel):
    """A model that refuses unknown fields (request bodies, worker messages)."""

    model_config = ConfigDict(extra="forbid")


class Role(StrEnum):
    """Token roles, weakest first; a role includes every weaker one (worker is apart)."""

    VIEWER = "viewer"
    OPERATOR = "operator"
    ADMIN = "admin"
    WORKER = "worker"

    def allows(self, needed: Role) -> bool:
        if self is Role.WORKER or needed is Role.WORKER:
            return self is needed or self is Role.ADMIN
        order = [Role.VIEWER, Role.OPERATOR, Role.ADMIN]
        return order.index(self) >= order.index(needed)
