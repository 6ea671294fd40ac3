"""Migrations: idempotent, reversible, atomic when one fails; the `agency db` commands."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from agency.cli import app
from agency.errors import MigrationError
from agency.storage import Store, load_migrations
from agency.storage.connection import connect
from agency.storage.migrate import MIGRATIONS_DIR, Migrator

runner = CliRunner()


def schema(path: Path) -> list[tuple[object, ...]]:
    conn = duckdb.connect(str(path), read_only=True)
    try:
        cols = conn.execute(
            "SELECT table_name, column_name, ordinal_position, data_type, is_nullable FROM information_schema.columns "
            "WHERE table_schema = 'main' AND table_name <> 'schema_migrations' ORDER BY ALL"
        ).fetchall()
        idx = conn.execute(
            "SELECT table_name, index_name, sql FROM duckdb_indexes() ORDER BY ALL"
        ).fetchall()
        cons = conn.execute(
            "SELECT table_name, constraint_type, constraint_column_names FROM duckdb_constraints() "
            "WHERE table_name <> 'schema_migrations' ORDER BY ALL"
        ).fetchall()
        return [*cols, *idx, *cons]
    finally:
        conn.close()


def cli(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def test_files_have_both_sections() -> None:
    migrations = load_migrations()
    assert migrations[0].version == 1 and "CREATE TABLE tasks" in migrations[0].up
    assert all(m.up and m.down for m in migrations)
    versions = [m.version for m in migrations]
    assert versions == sorted(set(versions))


def test_each_migration_reverts_to_the_schema_before_it(tmp_path: Path) -> None:
    db = str(tmp_path / "each.duckdb")
    versions = [m.version for m in load_migrations()]
    before: dict[int, list[tuple[object, ...]]] = {}
    conn = connect(Path(db))
    m = Migrator(conn)
    for version in versions:
        before[version] = schema_of(conn)
        m.migrate(to=version)
    for version in reversed(versions):
        m.rollback(to=version - 1)
        assert schema_of(conn) == before[version], version
    conn.close()


def schema_of(conn: duckdb.DuckDBPyConnection) -> list[tuple[object, ...]]:
    return conn.execute(
        "SELECT table_name, column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = 'main' AND table_name <> 'schema_migrations' ORDER BY ALL"
    ).fetchall()


def test_up_down_up_gives_the_same_schema(tmp_path: Path) -> None:
    db = str(tmp_path / "m.duckdb")
    assert cli("db", "migrate", "--db", db)[0] == 0
    first = schema(Path(db))
    assert len(first) > 100
    code, out = cli("db", "migrate", "--db", db)  # idempotent
    assert code == 0 and "up to date" in out
    assert schema(Path(db)) == first
    code, out = cli("db", "rollback", "--to", "0", "--db", db)
    newest_first = ", ".join(str(m.version) for m in reversed(load_migrations()))
    assert code == 0 and f"reverted {newest_first}" in out
    assert schema(Path(db)) == []
    code, out = cli("db", "status", "--db", db)
    assert code == 0 and "pending" in out
    assert cli("db", "migrate", "--db", db)[0] == 0
    assert schema(Path(db)) == first
    code, out = cli("db", "status", "--db", db, "--json")
    assert code == 0 and '"applied_at": null' not in out
    assert [r["version"] for r in json.loads(out)] == [m.version for m in load_migrations()]


def _with_extra(tmp_path: Path, body: str) -> Path:
    d = tmp_path / "migrations"
    d.mkdir()
    shutil.copy(MIGRATIONS_DIR / "0001_initial.sql", d)
    (d / "0002_extra.sql").write_text(body)
    return d


def test_a_failing_migration_rolls_back_and_keeps_the_version(tmp_path: Path) -> None:
    d = _with_extra(
        tmp_path,
        "-- up\nCREATE TABLE half (x INT);\nALTER TABLE tasks ADD COLUMN note VARCHAR;\n"
        "SELECT * FROM no_such_table;\n-- down\nDROP TABLE half;\n",
    )
    conn = connect(tmp_path / "f.duckdb")
    m = Migrator(conn, d)
    with pytest.raises(MigrationError, match=r"0002_extra.*rolled back"):
        m.migrate()
    assert m.version == 1  # 0001 applied in its own transaction, 0002 not at all
    tables = {
        r[0] for r in conn.execute("SELECT table_name FROM information_schema.tables").fetchall()
    }
    assert "half" not in tables
    cols = {
        r[0]
        for r in conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name='tasks'"
        ).fetchall()
    }
    assert "note" not in cols
    conn.close()


async def test_store_open_reports_a_failing_migration(tmp_path: Path) -> None:
    d = _with_extra(tmp_path, "-- up\nCREATE TABLE tasks (x INT);\n-- down\n")
    with pytest.raises(MigrationError):
        await Store.open(tmp_path / "s.duckdb", migrations_dir=d)
    # the file is usable afterwards: the failure closed its connection
    s = await Store.open(tmp_path / "s.duckdb")
    await s.close()


def test_second_migration_up_and_down_via_cli(tmp_path: Path) -> None:
    d = _with_extra(
        tmp_path,
        "-- up\nALTER TABLE alerts ADD COLUMN note VARCHAR;\n-- down\nALTER TABLE alerts DROP COLUMN note;\n",
    )
    db = str(tmp_path / "c.duckdb")
    assert cli("db", "migrate", "--db", db, "--migrations-dir", str(d)) == (
        0,
        "applied 1, 2; now at version 2\n",
    )
    code, out = cli("db", "rollback", "--to", "1", "--db", db, "--migrations-dir", str(d))
    assert code == 0 and "now at version 1" in out
    base = tmp_path / "base.duckdb"
    only_first = tmp_path / "first"
    only_first.mkdir()
    shutil.copy(MIGRATIONS_DIR / "0001_initial.sql", only_first)
    cli("db", "migrate", "--db", str(base), "--migrations-dir", str(only_first))
    assert schema(Path(db)) == schema(base)


def test_malformed_migration_files_are_refused(tmp_path: Path) -> None:
    (tmp_path / "0001_x.sql").write_text("CREATE TABLE a (x INT);\n")
    with pytest.raises(MigrationError, match="up"):
        load_migrations(tmp_path)
    (tmp_path / "0001_x.sql").unlink()
    (tmp_path / "1_bad.sql").write_text("-- up\n-- down\n")
    with pytest.raises(MigrationError, match="NNNN"):
        load_migrations(tmp_path)


def test_a_failing_down_keeps_the_version(tmp_path: Path) -> None:
    # DuckDB cannot drop a column of an indexed table: the down fails and must change nothing
    d = _with_extra(
        tmp_path,
        "-- up\nALTER TABLE tasks ADD COLUMN note VARCHAR;\n-- down\nALTER TABLE tasks DROP COLUMN note;\n",
    )
    db = str(tmp_path / "d.duckdb")
    assert cli("db", "migrate", "--db", db, "--migrations-dir", str(d))[0] == 0
    code, out = cli("db", "rollback", "--to", "1", "--db", db, "--migrations-dir", str(d))
    assert code == 1 and "0002_extra (down) failed and was rolled back" in out
    code, out = cli("db", "status", "--db", db, "--migrations-dir", str(d), "--json")
    assert all(r["applied_at"] for r in json.loads(out))
