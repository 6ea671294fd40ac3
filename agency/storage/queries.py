"""``QueryRepository``: saved queries, their revisions, their runs, and running user SQL.

User SQL runs through the store's read-only path (``userquery``): one SELECT-class statement,
no file or network access, a row cap and a time limit.
"""

from __future__ import annotations

from typing import Any

from agency.models import EventIn, QueryRun, SavedQuery, SavedQueryRevision
from agency.storage.ops import Delete, Insert, QueryResult, Upsert
from agency.storage.repository import Repository, row_limit, where
from agency.storage.userquery import check_sql


class QueryRepository(Repository):
    """The ``saved_queries``, ``saved_query_revisions`` and ``query_runs`` tables."""

    # --- saved queries -----------------------------------------------------------------

    async def get_saved(self, query_id: str) -> SavedQuery | None:
        return await self._one(SavedQuery, "SELECT * FROM saved_queries WHERE id = ?", [query_id])

    async def get_saved_by_name(self, name: str) -> SavedQuery | None:
        return await self._one(
            SavedQuery, "SELECT * FROM saved_queries WHERE name = ? LIMIT 1", [name]
        )

    async def find_saved(self, ref: str) -> SavedQuery | None:
        """The saved query with id ``ref``, else the one named ``ref``."""
        return await self._one(
            SavedQuery,
            "SELECT * FROM saved_queries WHERE id = ? OR name = ? ORDER BY id = ? DESC LIMIT 1",
            [ref, ref, ref],
        )

    async def name_taken(self, name: str, other_than: str | None = None) -> bool:
        """Whether a saved query other than ``other_than`` is named ``name``."""
        rows = await self.store.fetch(
            "SELECT id FROM saved_queries WHERE name = ? AND id IS DISTINCT FROM ?",
            [name, other_than],
        )
        return bool(rows)

    async def saved(self) -> list[SavedQuery]:
        """Every saved query, by name."""
        return await self._all(SavedQuery, "SELECT * FROM saved_queries ORDER BY name")

    async def revisions(self, query_id: str) -> list[SavedQueryRevision]:
        """Every revision of a saved query, oldest first."""
        return await self._all(
            SavedQueryRevision,
            "SELECT * FROM saved_query_revisions WHERE query_id = ? ORDER BY revision",
            [query_id],
        )

    async def revision(self, query_id: str, revision: int) -> SavedQueryRevision | None:
        return await self._one(
            SavedQueryRevision,
            "SELECT * FROM saved_query_revisions WHERE query_id = ? AND revision = ?",
            [query_id, revision],
        )

    async def save(self, query: SavedQuery, revision: SavedQueryRevision, *events: EventIn) -> None:
        """Store the query's new version and its revision record with the events, together."""
        await self._write(
            Upsert("saved_queries", [query.model_dump(mode="python")]),
            Insert("saved_query_revisions", [revision.model_dump(mode="python")]),
            *events,
        )

    async def delete(self, query_id: str, *events: EventIn) -> None:
        """Delete a saved query (its revisions and runs stay) with its events, together."""
        await self._write(Delete("saved_queries", [{"id": query_id}]), *events)

    # --- runs ----------------------------------------------------------------------------

    async def runs(self, query_id: str | None = None, limit: int = 100) -> list[QueryRun]:
        """Runs newest first (ties by id, descending); one saved query's when given."""
        clause, params = where(query_id=query_id)
        return await self._all(
            QueryRun,
            f"SELECT * FROM query_runs {clause} ORDER BY started_at DESC, id DESC LIMIT ?",
            [*params, row_limit(limit)],
        )

    async def record_run(self, run: QueryRun, *events: EventIn) -> None:
        """Store a run's record (failed runs too) with its events, in one write."""
        await self._write(Insert("query_runs", [run.model_dump(mode="python")]), *events)

    @staticmethod
    def check(sql: str) -> str:
        """The single read-only statement of ``sql``, else ``QueryRefused``/``QueryFailed``."""
        return check_sql(sql)

    async def run(
        self, sql: str, params: dict[str, Any] | None, *, row_cap: int, timeout: float
    ) -> QueryResult:
        """Run user SQL read-only, ``$name`` parameters bound from ``params``."""
        return await self.store.run_user_query(sql, params, row_cap=row_cap, timeout=timeout)
