"""Running user SQL for saved queries, notebooks and chat ``/sql``, with every run recorded.

The store enforces the safety (one read-only statement, no file or network access, row cap,
time limit); this module binds the parameters, records a ``QueryRun`` row and a ``query.run``
event for each attempt, failed ones included, and turns results into JSON or Arrow IPC.
"""

from __future__ import annotations

import base64
import io
import time
import uuid
from datetime import date, datetime, timedelta
from datetime import time as dtime
from decimal import Decimal
from typing import Any

import pyarrow as pa

from agency.api.deps import Principal, Services
from agency.errors import AgencyError
from agency.models import EventIn, QueryRun, new_id, utcnow
from agency.storage import Insert, QueryResult

ARROW_STREAM = "application/vnd.apache.arrow.stream"
SQL_IN_EVENT = 2000  # characters of the statement kept in the audit event


async def run_user_sql(
    services: Services,
    principal: Principal,
    sql: str,
    params: dict[str, Any],
    *,
    source: str,
    query_id: str | None = None,
    revision: int | None = None,
) -> tuple[QueryResult, QueryRun]:
    """Run ``sql`` read-only with ``params`` bound as DuckDB ``$name`` parameters.

    The run is recorded whether it succeeds or not; the query's own error (QueryRefused,
    QueryFailed, QueryTimeout) is raised after the record is durable.
    """
    settings = services.settings
    started_at = utcnow()
    t0 = time.perf_counter()
    try:
        result = await services.store.run_user_query(
            sql, params or None, row_cap=settings.query_row_cap, timeout=settings.query_timeout
        )
    except AgencyError as exc:
        run = QueryRun(
            id=new_id(),
            query_id=query_id,
            revision=revision,
            actor=principal.name,
            started_at=started_at,
            duration_ms=(time.perf_counter() - t0) * 1000.0,
            rows=0,
            status="error",
            error=f"{exc.code}: {exc.message}",
        )
        await _record(services, run, sql, source)
        raise
    run = QueryRun(
        id=new_id(),
        query_id=query_id,
        revision=revision,
        actor=principal.name,
        started_at=started_at,
        duration_ms=result.duration_ms,
        rows=len(result.rows),
        status="ok",
    )
    await _record(services, run, sql, source)
    return result, run


async def _record(services: Services, run: QueryRun, sql: str, source: str) -> None:
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
    await services.store.write(
        Insert("query_runs", [run.model_dump(mode="python")]),
        EventIn(
            actor=run.actor,
            action="query.run",
            resource_type="query",
            resource_id=run.query_id or "adhoc",
            details=details,
            verdict="allowed" if run.status == "ok" else "refused",
        ),
    )


def json_value(value: Any) -> Any:
    """A DuckDB value as JSON: times as ISO 8601, decimals as floats, blobs as base64."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime | date | dtime):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, dict):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, pa.MonthDayNano):  # an INTERVAL: its parts by name, not a bare triple
        return {"months": value.months, "days": value.days, "nanoseconds": value.nanoseconds}
    if isinstance(value, list | tuple):
        return [json_value(v) for v in value]
    return str(value)


def result_json(result: QueryResult, run: QueryRun | None = None) -> dict[str, Any]:
    """``{columns, rows, truncated, duration_ms, run_id}`` with JSON-safe cells."""
    return {
        "columns": list(result.columns),
        "rows": [[json_value(v) for v in row] for row in result.rows],
        "truncated": result.truncated,
        "duration_ms": result.duration_ms,
        "run_id": run.id if run is not None else None,
    }


def result_arrow(result: QueryResult) -> bytes:
    """The result as an Arrow IPC stream; ``truncated`` and ``duration_ms`` ride in the schema metadata."""
    table: pa.Table = result.to_arrow()
    meta = dict(table.schema.metadata or {})
    meta[b"agency.truncated"] = b"true" if result.truncated else b"false"
    meta[b"agency.duration_ms"] = f"{result.duration_ms:.3f}".encode()
    table = table.replace_schema_metadata(meta)
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()


def wants_arrow(accept: str | None) -> bool:
    return bool(accept) and ARROW_STREAM in (accept or "")
