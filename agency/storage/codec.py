"""Rows in and out: Python dicts to Arrow batches for the writer, JSON columns decoded on read.

The writer turns each group of rows into one Arrow table typed from the table's real
columns, so a whole batch is one ``INSERT ... SELECT`` (DuckDB pays per statement, not per row).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from enum import Enum
from typing import Any

import duckdb
import pyarrow as pa
from pydantic import BaseModel

from agency import models
from agency.errors import StorageError
from agency.models import runs

# table -> the pydantic model whose fields are its columns
TABLE_MODELS: dict[str, type[BaseModel]] = {
    "tasks": models.Task,
    "attempts": models.Attempt,
    "task_output": models.OutputChunk,
    "events": models.Event,
    "workers": models.WorkerInfo,
    "chat_sessions": models.ChatSession,
    "chat_messages": models.ChatMessage,
    "saved_queries": models.SavedQuery,
    "saved_query_revisions": models.SavedQueryRevision,
    "query_runs": models.QueryRun,
    "alerts": models.Alert,
    "waivers": models.Waiver,
    "runbook_runs": models.RunbookRun,
    "api_tokens": models.ApiToken,
    "kpi_samples": models.KpiSample,
    # migration 0002
    "schedules": models.Schedule,
    "schedule_revisions": models.ScheduleRevision,
    "schedule_fires": models.ScheduleFire,
    # migration 0003
    "agent_runs": runs.AgentRun,
    "transcript_items": runs.StoredTranscriptItem,
    "task_changes": runs.StoredChanges,
    "budgets": runs.Budget,
}

_ARROW_TYPES: dict[str, pa.DataType] = {
    "VARCHAR": pa.string(),
    "JSON": pa.string(),
    "BIGINT": pa.int64(),
    "INTEGER": pa.int32(),
    "DOUBLE": pa.float64(),
    "BOOLEAN": pa.bool_(),
    "TIMESTAMP WITH TIME ZONE": pa.timestamp("us", tz="UTC"),
}

Columns = dict[str, list[tuple[str, str]]]
_TIMESTAMP = "TIMESTAMP WITH TIME ZONE"


def load_required(conn: duckdb.DuckDBPyConnection) -> dict[str, frozenset[str]]:
    """Every main-schema table's NOT NULL columns."""
    rows = conn.execute(
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_schema = 'main' AND is_nullable = 'NO'"
    ).fetchall()
    out: dict[str, set[str]] = {}
    for table, column in rows:
        out.setdefault(table, set()).add(column)
    return {table: frozenset(cols) for table, cols in out.items()}


def load_sole_keys(conn: duckdb.DuckDBPyConnection) -> dict[str, frozenset[str]]:
    """The key columns of every main-schema table with exactly one primary or unique key.

    For such a table a row with the same key is the only row a replacing insert can
    conflict with, so deleting by that key and inserting does what ``INSERT OR REPLACE``
    does (the writer's cheaper way to upsert).
    """
    rows = conn.execute(
        "SELECT table_name, constraint_column_names FROM duckdb_constraints() "
        "WHERE schema_name = 'main' AND constraint_type IN ('PRIMARY KEY', 'UNIQUE')"
    ).fetchall()
    keys: dict[str, list[frozenset[str]]] = {}
    for table, columns in rows:
        keys.setdefault(table, []).append(frozenset(columns))
    return {table: found[0] for table, found in keys.items() if len(set(found)) == 1}


def load_columns(conn: duckdb.DuckDBPyConnection) -> Columns:
    """Every main-schema table's (column, type) list, in column order."""
    rows = conn.execute(
        "SELECT table_name, column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = 'main' ORDER BY table_name, ordinal_position"
    ).fetchall()
    out: Columns = {}
    for table, column, dtype in rows:
        out.setdefault(table, []).append((column, dtype))
    return out


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def json_default(value: object) -> object:
    """How values JSON cannot hold are written, in JSON columns and in the journal alike.

    ``str`` of a datetime is what ``datetime.fromisoformat`` reads back for TIMESTAMP columns.
    """
    if isinstance(value, datetime):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    return str(value)


def _is_text(value: object) -> bool:
    return isinstance(value, str) or (isinstance(value, Enum) and isinstance(value.value, str))


def _is_int32(value: object) -> bool:
    return type(value) is int and -(2**31) <= value < 2**31  # bool is an int, but not here


def _is_time(value: object) -> bool:
    if isinstance(value, datetime):
        return True
    if isinstance(value, str):
        try:
            datetime.fromisoformat(value)
        except ValueError:
            return False
        return True
    return False


_ACCEPTS: dict[str, Any] = {
    "VARCHAR": _is_text,
    "BIGINT": lambda v: type(v) is int and -(2**63) <= v < 2**63,
    "INTEGER": _is_int32,
    "DOUBLE": lambda v: type(v) in (int, float),
    "BOOLEAN": lambda v: type(v) is bool,
    _TIMESTAMP: _is_time,
}


def check_rows(
    table: str,
    columns: list[tuple[str, str]],
    required: frozenset[str],
    rows: Sequence[dict[str, Any]],
) -> None:
    """Refuse, as DuckDB would, a value its column cannot hold or a missing required one.

    For writes acknowledged before DuckDB sees them (the journal): a refusal must reach
    the caller, not surface later when the record is applied.
    """
    for row in rows:
        missing = required.difference(k for k, v in row.items() if v is not None)
        if missing:
            raise StorageError(
                f"{table}: column(s) {sorted(missing)} cannot be NULL", details={"table": table}
            )
        for name, dtype in columns:
            value = row.get(name)
            accepts = _ACCEPTS.get(dtype)
            if value is not None and accepts is not None and not accepts(value):
                raise StorageError(
                    f"{table}.{name}: cannot store {type(value).__name__} "
                    f"{str(value)[:80]!r} in a {dtype} column",
                    details={"table": table, "column": name},
                )


def _cell(value: Any, dtype: str) -> Any:
    if value is None:
        return None
    if dtype == "JSON":
        return json.dumps(value, default=json_default, separators=(",", ":"))
    if dtype == _TIMESTAMP and isinstance(value, str):
        value = _parse_time(value)  # a row read back from the journal
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, BaseModel):
        return json.dumps(value.model_dump(mode="json"), separators=(",", ":"))
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)  # naive times are UTC by convention
    return value


def _parse_time(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text)
    except ValueError as exc:
        raise StorageError(f"not a time: {text!r}") from exc


def to_arrow(
    table: str,
    columns: list[tuple[str, str]],
    rows: Sequence[dict[str, Any]],
    verbatim: frozenset[str] = frozenset(),
) -> pa.Table:
    """Rows as an Arrow table with ``table``'s columns (absent keys become NULL).

    ``verbatim`` names JSON columns whose values are already JSON text (event details,
    stored exactly as hashed).
    """
    names = {c for c, _ in columns}
    for row in rows:
        unknown = set(row) - names
        if unknown:
            raise StorageError(
                f"{table} has no column(s) {sorted(unknown)}", details={"table": table}
            )
    arrays = []
    for name, dtype in columns:
        kind = "VARCHAR" if name in verbatim else dtype
        arrow_type = _ARROW_TYPES.get(dtype)
        raw = [r.get(name) for r in rows]
        if kind != "JSON":
            # Arrow takes plain values (str enums, aware datetimes) as they are, in C; the
            # per-value conversion is only for what it refuses (times as text, other enums)
            try:
                arrays.append(pa.array(raw, type=arrow_type))
                continue
            except (pa.ArrowException, TypeError, ValueError, OverflowError):
                pass
        try:
            arrays.append(pa.array([_cell(v, kind) for v in raw], type=arrow_type))
        except (pa.ArrowException, TypeError, ValueError, OverflowError) as exc:
            raise StorageError(
                f"{table}.{name}: cannot store value(s): {exc}",
                details={"table": table, "column": name},
            ) from exc
    return pa.Table.from_arrays(arrays, names=[c for c, _ in columns])


def json_columns(description: Sequence[Sequence[Any]] | None) -> list[int]:
    """Positions of the JSON-typed columns of a result, to decode them on read."""
    return [i for i, d in enumerate(description or []) if str(d[1]) == "JSON"]


def decode_rows(
    description: Sequence[Sequence[Any]] | None, rows: list[tuple[Any, ...]]
) -> list[dict[str, Any]]:
    """DuckDB tuples to dicts keyed by column name, JSON columns parsed."""
    names = [d[0] for d in description or []]
    js = json_columns(description)
    out = []
    for row in rows:
        values = list(row)
        for i in js:
            if values[i] is not None:
                values[i] = json.loads(values[i])
        out.append(dict(zip(names, values, strict=True)))
    return out
