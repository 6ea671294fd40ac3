"""``KpiRepository``: the ``kpi_samples`` table (one KPI snapshot per sample interval)."""

from __future__ import annotations

from datetime import datetime

from agency.models import KpiSample
from agency.storage.ops import Insert
from agency.storage.repository import Repository, row_limit


class KpiRepository(Repository):
    """Sampled KPI history for charts."""

    async def find(self, since: datetime | None = None, limit: int = 1000) -> list[KpiSample]:
        """Samples oldest first from ``since`` (the most recent ``limit`` of them)."""
        where, params = ("WHERE ts >= ?", [since]) if since is not None else ("", [])
        return await self._all(
            KpiSample,
            f"SELECT * FROM (SELECT * FROM kpi_samples {where} ORDER BY ts DESC LIMIT ?) ORDER BY ts",
            [*params, row_limit(limit)],
        )

    async def latest(self) -> KpiSample | None:
        return await self._one(KpiSample, "SELECT * FROM kpi_samples ORDER BY ts DESC LIMIT 1")

    async def record(self, sample: KpiSample) -> None:
        """Store one sample, through the journal: a sample cannot conflict, and a DuckDB
        commit here would hold up the task transitions queued behind it."""
        await self._write(Insert("kpi_samples", [sample.model_dump(mode="python")]), journal=True)
