"""What every repository shares: the store it reads and writes, and typed row helpers.

A repository owns the SQL of one table family and knows nothing above it. Its public methods
take and return models (never rows or SQL), so a second backend (PostgreSQL) implements the
same methods over its own connection and no caller changes. Statements here use ``?``
placeholders; filters that may be absent are left out of the WHERE clause, never compared
to NULL in SQL.
"""

from __future__ import annotations

from enum import Enum
from typing import Any, TypeVar

from pydantic import BaseModel

from agency.models import Event
from agency.storage.ops import WriteOp
from agency.storage.store import Params, Store

M = TypeVar("M", bound=BaseModel)


def where(**filters: Any) -> tuple[str, list[Any]]:
    """``WHERE a = ? AND b = ?`` for the filters given (``None`` means no filter), and params.

    Enums are stored as their values, so an enum is compared by its value.
    """
    given = {k: v for k, v in filters.items() if v is not None}
    if not given:
        return "", []
    clause = "WHERE " + " AND ".join(f"{column} = ?" for column in given)
    return clause, [v.value if isinstance(v, Enum) else v for v in given.values()]


def row_limit(limit: int) -> int:
    """A LIMIT of at least one row (a zero or negative limit is a caller's slip, not 'none')."""
    return max(1, int(limit))


class Repository:
    """A table family's reads and writes over one ``Store``."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def _one(self, model: type[M], sql: str, params: Params = None) -> M | None:
        row = await self.store.fetch_one(sql, params)
        return model.model_validate(row) if row else None

    async def _all(self, model: type[M], sql: str, params: Params = None) -> list[M]:
        return [model.model_validate(r) for r in await self.store.fetch(sql, params)]

    async def _write(self, *ops: WriteOp, journal: bool = False) -> list[Event]:
        return await self.store.write(*ops, journal=journal)
