"""The write operations callers hand to ``Store.write`` and the result records of reads."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from agency.models import EventIn


@dataclass(frozen=True)
class Insert:
    """Insert ``rows`` (dicts of column -> value) into ``table``."""

    table: str
    rows: list[dict[str, Any]]


@dataclass(frozen=True)
class Upsert:
    """Insert ``rows`` or replace the whole existing row with the same ``key`` columns."""

    table: str
    rows: list[dict[str, Any]]
    key: tuple[str, ...] = ("id",)


@dataclass(frozen=True)
class Delete:
    """Delete the rows of ``table`` whose key columns equal one of ``keys``."""

    table: str
    keys: list[dict[str, Any]]


WriteOp = Insert | Upsert | Delete | EventIn


@dataclass(frozen=True)
class QueryResult:
    """The answer to a user query: at most the row cap, ``truncated`` when more existed."""

    columns: list[str]
    rows: list[list[Any]]
    truncated: bool
    duration_ms: float
    types: list[str] = field(default_factory=list)
    arrow: pa.Table | None = field(default=None, repr=False, compare=False)

    def to_arrow(self) -> pa.Table:
        """The rows as a pyarrow Table (column types as DuckDB produced them)."""
        if self.arrow is not None:
            return self.arrow
        return pa.Table.from_pylist([dict(zip(self.columns, r, strict=True)) for r in self.rows])


@dataclass(frozen=True)
class ChainReport:
    """Outcome of verifying the events hash chain."""

    ok: bool
    checked: int
    first_bad_seq: int | None = None
    reason: str | None = None
    last_seq: int = 0
