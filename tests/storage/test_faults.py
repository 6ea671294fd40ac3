"""Faults: a corrupt file, a file another process holds, a store used after close."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agency.cli import app
from agency.errors import DatabaseCorrupt, DatabaseLocked, StoreClosed
from agency.models import EventIn
from agency.storage import Store

HOLD = "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('held', flush=True); time.sleep(60)"


async def test_corrupt_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.duckdb"
    path.write_bytes(b"this is not a database\x00" * 500)
    with pytest.raises(DatabaseCorrupt, match="not a readable DuckDB database"):
        await Store.open(path)
    assert path.read_bytes().startswith(b"this is not")  # left as it was
    result = CliRunner().invoke(app, ["audit", "verify", "--db", str(path)])
    assert result.exit_code == 2 and "not a readable DuckDB database" in result.output


async def test_file_locked_by_another_process(tmp_path: Path) -> None:
    path = tmp_path / "held.duckdb"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(DatabaseLocked, match="held by another process") as info:
            await Store.open(path)
        assert info.value.status == 503
        result = CliRunner().invoke(app, ["db", "migrate", "--db", str(path)])
        assert result.exit_code == 1 and "held by another process" in result.output
    finally:
        holder.kill()
        holder.wait(timeout=10)
    s = await Store.open(path)  # usable once the other process is gone
    await s.close()


async def test_store_closed(store: Store) -> None:
    await store.append(EventIn(actor="a", action="x", resource_type="t", resource_id="1"))
    await store.close()
    with pytest.raises(StoreClosed) as info:
        await store.append(EventIn(actor="a", action="x", resource_type="t", resource_id="2"))
    assert info.value.status == 503
    with pytest.raises(StoreClosed):
        await store.run_user_query("SELECT 1")
    sub = store.subscribe()
    assert sub.closed
    await store.close()  # closing twice is harmless
