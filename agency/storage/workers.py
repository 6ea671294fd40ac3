"""Typed reads of registered workers."""

from __future__ import annotations

from agency.models import WorkerHealth, WorkerInfo
from agency.storage.store import Store


async def get_worker(store: Store, worker_id: str) -> WorkerInfo | None:
    row = await store.fetch_one("SELECT * FROM workers WHERE id = ?", [worker_id])
    return WorkerInfo.model_validate(row) if row else None


async def list_workers(store: Store, *, include_removed: bool = False) -> list[WorkerInfo]:
    """Workers by id; removed ones only when asked."""
    where = "" if include_removed else "WHERE health <> ?"
    params = [] if include_removed else [WorkerHealth.REMOVED.value]
    rows = await store.fetch(f"SELECT * FROM workers {where} ORDER BY id", params)
    return [WorkerInfo.model_validate(r) for r in rows]
