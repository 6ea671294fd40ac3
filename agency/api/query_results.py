"""Query results on the wire: JSON with JSON-safe cells, or an Arrow IPC stream.

Results are JSON, or Arrow when the request sends ``Accept: application/vnd.apache.arrow.stream``
(the Arrow stream keeps DuckDB's column types).
"""

from __future__ import annotations

import base64
import io
import uuid
from datetime import date, datetime, timedelta
from datetime import time as dtime
from decimal import Decimal
from typing import Any

import pyarrow as pa

from agency.control.queries import QueryResult
from agency.models import QueryRun

ARROW_STREAM = "application/vnd.apache.arrow.stream"


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
