"""Running user SQL for saved queries, notebooks and chat ``/sql``, every run recorded.

The store enforces the safety (one read-only statement, no file or network access, row cap,
time limit); this binds the parameters as DuckDB ``$name`` parameters (never interpolated)
and records a ``QueryRun`` row and a ``query.run`` event for each attempt, failed ones too.
"""

from __future__ import annotations

import time
from typing import Any, Literal

from agency.control.refusals import DENIED
from agency.errors import AgencyError, QueryRefused
from agency.models import EventIn, QueryRun, new_id, utcnow
from agency.settings import Settings
from agency.storage import QueryRepository, QueryResult

SQL_IN_EVENT = 2000  # characters of the statement kept in the audit event
Source = Literal["saved", "adhoc", "chat"]


class QueryRunner:
    """Runs user SQL read-only with the row cap and time limit, and records each run."""

    def __init__(self, repo: QueryRepository, settings: Settings) -> None:
        self.repo = repo
        self.settings = settings

    async def run(
        self,
        actor: str,
        sql: str,
        params: dict[str, Any],
        *,
        source: Source,
        query_id: str | None = None,
        revision: int | None = None,
        address: str | None = None,
    ) -> tuple[QueryResult, QueryRun]:
        """Run ``sql`` with ``params``; the run is recorded whether it succeeds or not.

        The query's own error (QueryRefused, QueryFailed, QueryTimeout) is raised after the
        record is durable; a refused statement's event is ``query.refused`` (verdict
        ``denied``, with the caller's ``address`` and the reason).
        """
        started_at = utcnow()
        t0 = time.perf_counter()
        try:
            result = await self.repo.run(
                sql,
                params or None,
                row_cap=self.settings.query_row_cap,
                timeout=self.settings.query_timeout,
            )
        except AgencyError as exc:
            run = QueryRun(
                id=new_id(),
                query_id=query_id,
                revision=revision,
                actor=actor,
                started_at=started_at,
                duration_ms=(time.perf_counter() - t0) * 1000.0,
                rows=0,
                status="error",
                error=f"{exc.code}: {exc.message}",
            )
            refused = exc.message if isinstance(exc, QueryRefused) else None
            await self._record(run, sql, source, address, refused)
            raise
        run = QueryRun(
            id=new_id(),
            query_id=query_id,
            revision=revision,
            actor=actor,
            started_at=started_at,
            duration_ms=result.duration_ms,
            rows=len(result.rows),
            status="ok",
        )
        await self._record(run, sql, source, address)
        return result, run

    async def _record(
        self,
        run: QueryRun,
        sql: str,
        source: Source,
        address: str | None,
        refused: str | None = None,
    ) -> None:
        details: dict[str, Any] = {
            "source": source,
            "run_id": run.id,
            "revision": run.revision,
            "rows": run.rows,
            "status": run.status,
            "duration_ms": round(run.duration_ms, 3),
            "sql": sql[:SQL_IN_EVENT],
        }
        if run.error:
            details["error"] = run.error
        if refused is not None:
            details.update(address=address, reason=refused, code=QueryRefused.code)
        verdict = "allowed" if run.status == "ok" else "refused"
        await self.repo.record_run(
            run,
            EventIn(
                actor=run.actor,
                action="query.run" if refused is None else "query.refused",
                resource_type="query",
                resource_id=run.query_id or "adhoc",
                details=details,
                verdict=verdict if refused is None else DENIED,
            ),
        )
