"""Typed reads of saved queries, their revisions and their runs."""

from __future__ import annotations

from agency.models import QueryRun, SavedQuery, SavedQueryRevision
from agency.storage.store import Store


async def get_saved_query(store: Store, query_id: str) -> SavedQuery | None:
    row = await store.fetch_one("SELECT * FROM saved_queries WHERE id = ?", [query_id])
    return SavedQuery.model_validate(row) if row else None


async def get_saved_query_by_name(store: Store, name: str) -> SavedQuery | None:
    row = await store.fetch_one("SELECT * FROM saved_queries WHERE name = ? LIMIT 1", [name])
    return SavedQuery.model_validate(row) if row else None


async def list_saved_queries(store: Store) -> list[SavedQuery]:
    rows = await store.fetch("SELECT * FROM saved_queries ORDER BY name, id")
    return [SavedQuery.model_validate(r) for r in rows]


async def list_revisions(store: Store, query_id: str) -> list[SavedQueryRevision]:
    """Every revision of a saved query, oldest first."""
    rows = await store.fetch(
        "SELECT * FROM saved_query_revisions WHERE query_id = ? ORDER BY revision", [query_id]
    )
    return [SavedQueryRevision.model_validate(r) for r in rows]


async def get_revision(store: Store, query_id: str, revision: int) -> SavedQueryRevision | None:
    row = await store.fetch_one(
        "SELECT * FROM saved_query_revisions WHERE query_id = ? AND revision = ?",
        [query_id, revision],
    )
    return SavedQueryRevision.model_validate(row) if row else None


async def list_query_runs(
    store: Store, query_id: str | None = None, limit: int = 100
) -> list[QueryRun]:
    """Runs newest first; only one saved query's when ``query_id`` is given."""
    where, params = ("WHERE query_id = ?", [query_id]) if query_id is not None else ("", [])
    rows = await store.fetch(
        f"SELECT * FROM query_runs {where} ORDER BY started_at DESC, id LIMIT {max(1, int(limit))}",
        params,
    )
    return [QueryRun.model_validate(r) for r in rows]
