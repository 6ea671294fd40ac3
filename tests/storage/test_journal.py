"""The write-ahead journal: acknowledged writes survive kill -9, torn tails, ordering, refusals."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from agency.cli import app as cli_app
from agency.models import EventIn
from agency.storage import Insert, Store, Upsert

WHEN = datetime(2030, 1, 1, tzinfo=UTC)


def ev(i: int) -> EventIn:
    return EventIn(
        actor="tester", action="test.journaled", resource_type="task", resource_id=f"t{i}"
    )


def alert(i: int, message: str = "m") -> dict[str, object]:
    return {
        "id": f"a{i}",
        "kind": "test",
        "severity": "warning",
        "message": message,
        "resource_type": "task",
        "resource_id": f"t{i}",
        "state": "open",
        "created_at": WHEN,
        "updated_at": WHEN,
    }


def raw_count(db: Path, sql: str) -> int:
    conn = duckdb.connect(str(db), read_only=True)
    try:
        row = conn.execute(sql).fetchone()
        return int(row[0]) if row else 0
    finally:
        conn.close()


# what every crash script below starts with: rows, events, and DuckDB left behind
PRELUDE = textwrap.dedent("""
    import asyncio, os, resource, signal, sys
    from datetime import UTC, datetime
    from agency.errors import StorageError
    from agency.models import EventIn
    from agency.storage import Insert, Store, Upsert, journal as journal_module, store as store_module

    store_module.APPLY_DELAY = 3600.0  # nothing reaches DuckDB unless a read or the backlog asks

    def row(i, message="m"):
        when = datetime(2030, 1, 1, tzinfo=UTC)
        return {"id": f"a{i}", "kind": "test", "severity": "warning", "message": message,
                "resource_type": "task", "resource_id": f"t{i}", "state": "open",
                "created_at": when, "updated_at": when}

    def ev(i):
        return EventIn(actor="tester", action="test.journaled", resource_type="task", resource_id=f"t{i}")

    async def write(store, i, message="m"):
        await store.write(Upsert("alerts", [row(i, message)]), ev(i), journal=True)
""")


CRASH = PRELUDE + textwrap.dedent("""
    async def main() -> None:
        store = await Store.open(sys.argv[1])
        for i in range(20):
            await write(store, i)
        print("acknowledged", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)

    asyncio.run(main())
""")


def run_until_killed(script: str, db: Path) -> str:
    """Run a crash script on ``db``; it must end by kill -9; returns what it printed."""
    proc = subprocess.run(
        [sys.executable, "-c", script, str(db)], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    return proc.stdout


def crash_after_journaled_writes(db: Path) -> None:
    assert run_until_killed(CRASH, db).strip() == "acknowledged"


async def test_a_journaled_write_is_read_back_at_once(tmp_path: Path) -> None:
    async with await Store.open(tmp_path / "j.duckdb") as store:
        events = await store.write(Upsert("alerts", [alert(1)]), ev(1), journal=True)
        assert events[0].seq == 1
        # the read waits for DuckDB to hold every acknowledged write
        rows = await store.fetch("SELECT id FROM alerts")
        assert [r["id"] for r in rows] == ["a1"]
        await store.write(Upsert("alerts", [alert(2)]), ev(2))  # a DuckDB-committed write after it
        await store.write(Upsert("alerts", [alert(3)]), ev(3), journal=True)
        assert (await store.fetch_one("SELECT count(*) AS n FROM alerts"))["n"] == 3  # type: ignore[index]
        report = await store.verify_chain()
        assert report.ok and report.checked == 3


async def test_killed_process_loses_no_acknowledged_write(tmp_path: Path) -> None:
    db = tmp_path / "crash.duckdb"
    crash_after_journaled_writes(db)
    journal = db.with_name(db.name + ".journal")
    assert journal.stat().st_size > 0
    assert raw_count(db, "SELECT count(*) FROM alerts") == 0  # only the journal holds them
    async with await Store.open(db) as store:
        assert (await store.fetch_one("SELECT count(*) AS n FROM alerts"))["n"] == 20  # type: ignore[index]
        report = await store.verify_chain()
        assert report.ok and report.checked == 20
        head = await store.fetch_one("SELECT hash FROM events WHERE seq = 20")
        # the chain goes on from the replayed head
        events = await store.write(ev(99), journal=True)
        assert head is not None and events[0].seq == 21 and events[0].prev_hash == head["hash"]
    assert not journal.exists()  # a clean close leaves DuckDB holding everything
    assert raw_count(db, "SELECT count(*) FROM events") == 21


async def test_a_torn_last_record_is_cut_off(tmp_path: Path) -> None:
    db = tmp_path / "torn.duckdb"
    crash_after_journaled_writes(db)
    journal = db.with_name(db.name + ".journal")
    intact = journal.stat().st_size
    with journal.open("ab") as f:
        f.write(b"AGJ1\x00\x00\x10\x00partial")  # a crash in the middle of an append
    async with await Store.open(db) as store:
        assert (await store.fetch_one("SELECT count(*) AS n FROM alerts"))["n"] == 20  # type: ignore[index]
        assert (await store.verify_chain()).ok
    assert intact > 0 and not journal.exists()


async def test_replay_is_idempotent_across_a_second_crash(tmp_path: Path) -> None:
    db = tmp_path / "twice.duckdb"
    crash_after_journaled_writes(db)
    journal = db.with_name(db.name + ".journal")
    saved = journal.read_bytes()
    await (await Store.open(db)).close()  # replays, then empties the journal
    # a crash right after the replay's commit, before the file was emptied, leaves the
    # same records in the journal: DuckDB's mark says it holds them, so none applies twice
    journal.write_bytes(saved)
    async with await Store.open(db) as store:
        assert (await store.fetch_one("SELECT count(*) AS n FROM events"))["n"] == 20  # type: ignore[index]
        assert (await store.verify_chain()).ok
    assert not db.with_name(db.name + ".journal.rejected").exists()


async def test_order_of_journaled_and_committed_writes_is_kept(tmp_path: Path) -> None:
    async with await Store.open(tmp_path / "o.duckdb") as store:
        await store.write(Upsert("alerts", [alert(1, "journaled first")]), journal=True)
        await store.write(Upsert("alerts", [alert(1, "committed second")]))
        row = await store.fetch_one("SELECT message FROM alerts WHERE id = 'a1'")
        assert row == {"message": "committed second"}
        await store.write(Upsert("alerts", [alert(1, "journaled third")]), journal=True)
        row = await store.fetch_one("SELECT message FROM alerts WHERE id = 'a1'")
        assert row == {"message": "journaled third"}


async def test_a_record_duckdb_refuses_is_kept_aside_and_the_rest_lands(tmp_path: Path) -> None:
    db = tmp_path / "refuse.duckdb"
    async with await Store.open(db) as store:
        await store.write(Insert("alerts", [alert(1)]))
        # a journaled insert of an existing key: acknowledged, then refused by DuckDB
        await store.write(Insert("alerts", [alert(1, "duplicate")]), ev(1), journal=True)
        await store.write(Upsert("alerts", [alert(2)]), ev(2), journal=True)
        rows = await store.fetch("SELECT id, message FROM alerts ORDER BY id")
        assert rows == [{"id": "a1", "message": "m"}, {"id": "a2", "message": "m"}]
        # the refused record's event is kept: the audit chain has no gap
        report = await store.verify_chain()
        assert report.ok and report.checked == 2
    rejected = db.with_name(db.name + ".journal.rejected")
    assert rejected.stat().st_size > 0


@pytest.mark.parametrize("journal", [True, False])
async def test_many_concurrent_writers_share_commits(tmp_path: Path, journal: bool) -> None:
    async with await Store.open(tmp_path / "c.duckdb") as store:
        await asyncio.gather(
            *(store.write(Upsert("alerts", [alert(i)]), ev(i), journal=journal) for i in range(200))
        )
        assert (await store.fetch_one("SELECT count(*) AS n FROM alerts"))["n"] == 200  # type: ignore[index]
        report = await store.verify_chain()
        assert report.ok and report.checked == 200
    assert os.path.exists(tmp_path / "c.duckdb")


FULL_DISK = PRELUDE + textwrap.dedent("""
    async def main() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
        store = await Store.open(sys.argv[1])
        for i in range(3):
            await write(store, i)
        soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
        journal = sys.argv[1] + ".journal"
        resource.setrlimit(resource.RLIMIT_FSIZE, (os.path.getsize(journal) + 64, hard))
        try:
            await write(store, 3, "x" * 4000)  # only its first bytes fit: a torn record
        except StorageError:
            print("refused", flush=True)
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        for i in range(4, 7):
            await write(store, i)
        print("acknowledged", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)

    asyncio.run(main())
""")


async def test_a_failed_append_leaves_no_torn_record_before_later_ones(tmp_path: Path) -> None:
    db = tmp_path / "full.duckdb"
    assert run_until_killed(FULL_DISK, db).split() == ["refused", "acknowledged"]
    async with await Store.open(db) as store:
        rows = await store.fetch("SELECT id FROM alerts ORDER BY id")
        # the refused write is absent; the ones acknowledged after it all survived the kill
        assert [r["id"] for r in rows] == ["a0", "a1", "a2", "a4", "a5", "a6"]
        report = await store.verify_chain()
        assert report.ok and report.checked == 6


async def test_offline_commands_warn_of_writes_waiting_in_the_journal(tmp_path: Path) -> None:
    db = tmp_path / "offline.duckdb"
    crash_after_journaled_writes(db)
    result = CliRunner().invoke(cli_app, ["audit", "verify", "--db", str(db)])
    assert result.exit_code == 0  # what DuckDB holds is a valid chain, only shorter
    assert "offline.duckdb.journal holds" in result.output and "agency up" in result.output
    await (await Store.open(db)).close()  # applies it
    result = CliRunner().invoke(cli_app, ["audit", "verify", "--db", str(db)])
    assert result.exit_code == 0 and "journal" not in result.output and "20 events" in result.output


async def test_a_committed_write_is_not_failed_by_a_refused_journal_record(tmp_path: Path) -> None:
    db = tmp_path / "neighbour.duckdb"
    async with await Store.open(db) as store:
        await store.write(Insert("alerts", [alert(1)]))
        await store.write(Insert("alerts", [alert(1, "duplicate")]), ev(1), journal=True)
        # applied with this write in one transaction, the refused record must fail only itself
        events = await store.write(Upsert("alerts", [alert(2)]), ev(2))
        assert events[0].seq == 2
        rows = await store.fetch("SELECT id, message FROM alerts ORDER BY id")
        assert rows == [{"id": "a1", "message": "m"}, {"id": "a2", "message": "m"}]
        report = await store.verify_chain()
        assert report.ok and report.checked == 2
    assert db.with_name(db.name + ".journal.rejected").stat().st_size > 0


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("message", 42, "alerts.message: cannot store int"),
        ("created_at", "not a time", "alerts.created_at: cannot store str"),
        ("kind", None, "cannot be NULL"),
    ],
)
async def test_a_journaled_value_duckdb_would_refuse_fails_the_caller(
    tmp_path: Path, field: str, value: object, message: str
) -> None:
    from agency.errors import StorageError

    db = tmp_path / "types.duckdb"
    async with await Store.open(db) as store:
        bad = {**alert(1), field: value}
        with pytest.raises(StorageError, match=message):
            await store.write(Upsert("alerts", [bad]), ev(1), journal=True)
        # its neighbours in the same group commit are written all the same
        await asyncio.gather(
            store.write(Upsert("alerts", [alert(2)]), ev(2), journal=True),
            store.write(Upsert("alerts", [bad]), ev(3), journal=True),
            return_exceptions=True,
        )
        rows = await store.fetch("SELECT id FROM alerts")
        assert [r["id"] for r in rows] == ["a2"]
        report = await store.verify_chain()
        assert report.ok and report.checked == 1
    assert not db.with_name(db.name + ".journal.rejected").exists()


CRASH_REFUSED = PRELUDE + textwrap.dedent("""
    async def main() -> None:
        store = await Store.open(sys.argv[1])
        await store.write(Insert("alerts", [row(1)]), ev(1))
        await store.write(Insert("alerts", [row(1, "duplicate")]), ev(2), journal=True)
        await store.write(Upsert("alerts", [row(2)]), ev(3), journal=True)
        print("acknowledged", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)

    asyncio.run(main())
""")


async def test_replay_sets_a_refused_record_aside_and_opens(tmp_path: Path) -> None:
    db = tmp_path / "replay-refused.duckdb"
    assert run_until_killed(CRASH_REFUSED, db).strip() == "acknowledged"
    assert raw_count(db, "SELECT count(*) FROM events") == 1  # the rest waits in the journal
    for _ in range(2):  # and the second open has nothing left to replay
        async with await Store.open(db) as store:
            rows = await store.fetch("SELECT id, message FROM alerts ORDER BY id")
            assert rows == [{"id": "a1", "message": "m"}, {"id": "a2", "message": "m"}]
            report = await store.verify_chain()
            assert report.ok and report.checked == 3
    assert db.with_name(db.name + ".journal.rejected").stat().st_size > 0


CRASH_COMPACTING = PRELUDE + textwrap.dedent("""
    store_module.APPLY_BACKLOG = 4  # DuckDB trails the journal by a few records
    store_module.COMPACT_BYTES = 16 << 10
    compactions = 0
    compact = journal_module.Journal.compact

    def counted(self, keep):
        global compactions
        compactions += 1
        compact(self, keep)

    journal_module.Journal.compact = counted

    async def main() -> None:
        store = await Store.open(sys.argv[1])
        path, largest = sys.argv[1] + ".journal", 0
        for start in range(0, 900, 3):
            await asyncio.gather(*(write(store, i, "m" * 200) for i in range(start, start + 3)))
            if start == 0:
                first = os.path.getsize(path)  # one record's bytes (the file starts empty)
            largest = max(largest, os.path.getsize(path))
        print(compactions, store._journal.last, first, largest, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)

    asyncio.run(main())
""")


async def test_compaction_bounds_the_journal_and_loses_nothing(tmp_path: Path) -> None:
    db = tmp_path / "compact.duckdb"
    compactions, records, record_bytes, largest = map(
        int, run_until_killed(CRASH_COMPACTING, db).split()
    )
    # DuckDB trails the journal under steady writes, so it is never empty at the moment
    # of an append: only compaction keeps it from holding every record ever written
    assert compactions > 0 and records >= 300
    assert largest < records * record_bytes / 4
    async with await Store.open(db) as store:
        assert (await store.fetch_one("SELECT count(*) AS n FROM alerts"))["n"] == 900  # type: ignore[index]
        report = await store.verify_chain()
        assert report.ok and report.checked == 900
    assert not db.with_name(db.name + ".journal.rejected").exists()


def test_journal_compact_keeps_only_the_given_records(tmp_path: Path) -> None:
    from agency.storage.journal import Journal, Segment

    path = tmp_path / "unit.journal"
    journal = Journal(path)
    for i in range(5):
        journal.append([Segment("alerts", "upsert", ("id",), [{"id": f"a{i}"}])])
    kept = journal.replay(3)
    assert [r.number for r in kept] == [4, 5]
    journal.compact(kept)
    journal.append([Segment("alerts", "upsert", ("id",), [{"id": "a5"}])])  # goes to the new file
    journal.close(remove=False)
    again = Journal(path)
    records = again.replay(0)
    assert [r.number for r in records] == [4, 5, 6]
    assert [r.segments[0].rows for r in records] == [[{"id": "a3"}], [{"id": "a4"}], [{"id": "a5"}]]
    assert not path.with_name(path.name + ".compact").exists()
    again.close(remove=True)


async def test_a_cancelled_close_still_closes(tmp_path: Path) -> None:
    db = tmp_path / "cancel.duckdb"
    store = await Store.open(db)
    await store.write(Upsert("alerts", [alert(1)]), ev(1), journal=True)
    closing = asyncio.ensure_future(store.close())
    await asyncio.sleep(0)
    closing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await closing
    await store.close()  # waits for the close the cancelled caller started
    assert not db.with_name(db.name + ".journal").exists()
    assert raw_count(db, "SELECT count(*) FROM alerts") == 1  # the file is released and complete
