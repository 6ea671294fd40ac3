"""User SQL: only one read-only statement, no files or network, a row cap and a time limit."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from agency.errors import QueryFailed, QueryRefused, QueryTimeout
from agency.models import EventIn, Task
from agency.storage import Insert, Store


@pytest.fixture
async def filled(store: Store, tmp_path: Path) -> Store:
    tasks = [
        Task(id=f"t{i:03d}", kind="noop", spec={"n": i}).model_dump(mode="python")
        for i in range(120)
    ]
    await store.write(
        Insert("tasks", tasks),
        EventIn(actor="a", action="x", resource_type="task", resource_id="t000"),
    )
    (tmp_path / "x.csv").write_text("secret\n42\n")
    return store


REFUSED = [
    "INSERT INTO tasks (id) VALUES ('evil')",
    "UPDATE tasks SET state = 'failed'",
    "DELETE FROM tasks",
    "DROP TABLE tasks",
    "CREATE TABLE t2 AS SELECT 1",
    "ALTER TABLE tasks ADD COLUMN x INT",
    "COPY tasks TO '{tmp}/out.csv'",
    "COPY tasks FROM '{tmp}/x.csv'",
    "EXPORT DATABASE '{tmp}/exp'",
    "ATTACH '{tmp}/other.duckdb' AS other",
    "DETACH other",
    "INSTALL httpfs",
    "LOAD httpfs",
    "SET enable_external_access = true",
    "RESET enable_external_access",
    "PRAGMA enable_profiling",
    "CHECKPOINT",
    "BEGIN TRANSACTION",
    "CALL pragma_version()",
    "SELECT 1; DROP TABLE tasks",
    "EXPLAIN DELETE FROM tasks",
    "SELECT * FROM read_csv('/etc/passwd')",
    "SELECT * FROM read_csv_auto('{tmp}/x.csv')",
    "SELECT * FROM '{tmp}/x.csv'",
    "SELECT * FROM read_text('/etc/passwd')",
    "SELECT * FROM read_blob('/etc/hostname')",
    "SELECT * FROM read_parquet('{tmp}/x.parquet')",
    "SELECT * FROM read_json('/etc/passwd')",
    "SELECT * FROM glob('/etc/*')",
    "SELECT * FROM query('DROP TABLE tasks')",
    "SELECT * FROM read_csv('https://example.com/x.csv')",
]


@pytest.mark.parametrize("sql", REFUSED)
async def test_refused_and_data_intact(filled: Store, tmp_path: Path, sql: str) -> None:
    with pytest.raises((QueryRefused, QueryFailed)) as info:
        await filled.run_user_query(sql.format(tmp=tmp_path))
    assert "Traceback" not in info.value.message and len(info.value.message) < 300
    assert (await filled.fetch("SELECT count(*) AS n FROM tasks"))[0]["n"] == 120
    assert not (tmp_path / "out.csv").exists() and not (tmp_path / "exp").exists()
    assert not (tmp_path / "other.duckdb").exists()
    assert (await filled.verify_chain()).ok


async def test_statement_kinds_are_named(filled: Store) -> None:
    with pytest.raises(QueryRefused, match="not DROP"):
        await filled.run_user_query("DROP TABLE tasks")
    with pytest.raises(QueryRefused, match="exactly one statement"):
        await filled.run_user_query("SELECT 1; SELECT 2")
    with pytest.raises(QueryRefused, match="exactly one statement"):
        await filled.run_user_query("  -- nothing\n")
    with pytest.raises(QueryRefused, match="file system operations are disabled"):
        await filled.run_user_query("SELECT * FROM read_csv('/etc/passwd')")


async def test_bad_sql_is_a_clear_error(filled: Store) -> None:
    with pytest.raises(QueryFailed, match="does not parse"):
        await filled.run_user_query("SELEC * FROM tasks")
    with pytest.raises(QueryFailed, match="no_such"):
        await filled.run_user_query("SELECT * FROM no_such")
    with pytest.raises(QueryFailed):
        await filled.run_user_query("SELECT 1/0::INT, 'a'::INT")


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT id FROM tasks ORDER BY id",
        "FROM tasks SELECT id ORDER BY id",
        "WITH x AS (SELECT id FROM tasks) SELECT * FROM x ORDER BY id",
        "SHOW TABLES",
        "DESCRIBE tasks",
        "SUMMARIZE tasks",
        "EXPLAIN SELECT * FROM tasks",
        "EXPLAIN ANALYZE SELECT count(*) FROM tasks",
        "VALUES (1), (2)",
        "SELECT * FROM duckdb_tables()",
    ],
)
async def test_read_only_kinds_run(filled: Store, sql: str) -> None:
    result = await filled.run_user_query(sql)
    assert result.rows and result.columns


async def test_row_cap_and_params(filled: Store) -> None:
    result = await filled.run_user_query("SELECT id, spec FROM tasks ORDER BY id", row_cap=50)
    assert len(result.rows) == 50 and result.truncated and result.rows[0][0] == "t000"
    exact = await filled.run_user_query(
        "SELECT id FROM tasks WHERE id < $last ORDER BY id", {"last": "t050"}, row_cap=50
    )
    assert len(exact.rows) == 50 and not exact.truncated
    table = exact.to_arrow()
    assert table.num_rows == 50 and table.column_names == ["id"]
    dup = await filled.run_user_query("SELECT 1 AS a, 2 AS a")
    assert dup.rows == [[1, 2]] and dup.columns == ["a", "a"]


async def test_a_long_query_is_interrupted_within_its_limit(filled: Store) -> None:
    start = time.perf_counter()
    with pytest.raises(QueryTimeout, match=r"0\.5 s"):
        await filled.run_user_query(
            "SELECT count(*) FROM range(1000000000000) a(x) WHERE x % 7 = 3", timeout=0.5
        )
    assert time.perf_counter() - start < 3.0
    # the cursor is fine afterwards and the writer never stopped
    await filled.append(EventIn(actor="a", action="y", resource_type="task", resource_id="t1"))
    assert (await filled.run_user_query("SELECT count(*) FROM events")).rows == [[2]]
