"""User SQL, read-only: one SELECT-class statement, checked by DuckDB's own parser.

Defences, each enough on its own for its threat:
- the parser (``duckdb.extract_statements``) must find exactly one statement of type SELECT
  (which covers SELECT, FROM-first, VALUES, WITH, SHOW, DESCRIBE, SUMMARIZE), or an EXPLAIN of
  one; anything else is refused before it runs;
- it runs inside ``BEGIN TRANSACTION READ ONLY`` (DuckDB refuses any write in it) that is
  rolled back afterwards;
- the database instance has external access off and its configuration locked
  (``connection.py``): no file, network, ATTACH, INSTALL/LOAD or SET from SQL;
- a row cap (fetch cap + 1 to know it was truncated) and a timer that calls ``interrupt()``.
"""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Any

import duckdb
import pyarrow as pa

from agency.errors import QueryFailed, QueryRefused, QueryTimeout
from agency.storage.connection import first_line
from agency.storage.ops import QueryResult

_SELECT = duckdb.StatementType.SELECT
_EXPLAIN = duckdb.StatementType.EXPLAIN


def check_sql(sql: str) -> str:
    """The single read-only statement of ``sql``, or ``QueryRefused``/``QueryFailed``."""
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        raise QueryFailed(f"SQL does not parse: {first_line(exc)}") from None
    if len(statements) != 1:
        raise QueryRefused(f"exactly one statement is allowed, got {len(statements)}")
    stmt = statements[0]
    if stmt.type == _EXPLAIN:
        # EXPLAIN [ANALYZE] runs its inner statement: that one must pass this check too
        words = stmt.query.split(None, 2)
        inner = (
            words[2] if len(words) > 2 and words[1].lower() == "analyze" else " ".join(words[1:])
        )
        check_sql(inner)
        return stmt.query
    if stmt.type != _SELECT:
        name = str(stmt.type).rsplit(".", 1)[-1]
        raise QueryRefused(
            f"only SELECT queries are allowed, not {name}", details={"statement": name}
        )
    return stmt.query


def run(
    cur: duckdb.DuckDBPyConnection,
    sql: str,
    params: list[Any] | dict[str, Any] | None,
    row_cap: int,
    timeout: float,
) -> QueryResult:
    """Run checked user SQL on ``cur`` (a cursor of its own: ``interrupt`` stops only it)."""
    statement = check_sql(sql)
    lock, running = threading.Lock(), [True]

    def stop() -> None:
        with lock:  # never interrupt a later statement on the same cursor
            if running[0]:
                cur.interrupt()

    timer = threading.Timer(timeout, stop)
    started = time.perf_counter()
    cur.execute("BEGIN TRANSACTION READ ONLY")
    timer.start()
    try:
        table = _fetch(cur.sql(statement, params=params), row_cap + 1)
    except duckdb.InterruptException:
        raise QueryTimeout(
            f"query interrupted after its {timeout:g} s limit", details={"timeout": timeout}
        ) from None
    except duckdb.PermissionException as exc:
        raise QueryRefused(f"query refused: {first_line(exc)}") from None
    except duckdb.TransactionException as exc:
        raise QueryRefused(f"query refused, it would write: {first_line(exc)}") from None
    except duckdb.Error as exc:
        raise QueryFailed(f"query failed: {first_line(exc)}") from None
    finally:
        with lock:
            running[0] = False
        timer.cancel()
        with contextlib.suppress(duckdb.Error):  # a failed statement already ended it
            cur.execute("ROLLBACK")
    elapsed = (time.perf_counter() - started) * 1000
    truncated = table.num_rows > row_cap
    if truncated:
        table = table.slice(0, row_cap)
    names = table.column_names
    # by position, not via dicts: a result may repeat a column name
    rows = [list(r) for r in zip(*(c.to_pylist() for c in table.columns), strict=True)]
    return QueryResult(names, rows, truncated, elapsed, [str(t) for t in table.schema.types], table)


def _fetch(rel: duckdb.DuckDBPyRelation, limit: int) -> pa.Table:
    reader = rel.to_arrow_reader(min(limit, 10_000))
    batches: list[pa.RecordBatch] = []
    total = 0
    for batch in reader:
        batches.append(batch)
        total += batch.num_rows
        if total >= limit:
            break
    return pa.Table.from_batches(batches, schema=reader.schema).slice(0, limit)
