"""The writer: group commit, per-caller isolation, round trips, close, subscriptions, restart."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agency.errors import Conflict, StorageError, StoreClosed
from agency.models import (
    Alert,
    ApiToken,
    Attempt,
    ChatMessage,
    ChatSession,
    EventIn,
    FileChange,
    KpiSample,
    OutputChunk,
    QueryRun,
    Role,
    RunbookRun,
    SavedQuery,
    SavedQueryRevision,
    Schedule,
    ScheduleFire,
    ScheduleRevision,
    SkipReason,
    Task,
    TaskState,
    TranscriptItemType,
    Waiver,
    WorkerInfo,
)
from agency.models.runs import AgentRun, Budget, StoredChanges, StoredTranscriptItem
from agency.storage import Delete, Insert, Store, Upsert
from agency.storage.codec import TABLE_MODELS, load_columns

NOW = datetime(2030, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)
TEMPLATE = {"kind": "shell", "spec": {"argv": ["true"]}, "labels": {"team": "a"}, "locks": ["ws"]}


def ev(i: int = 0, **kw: object) -> EventIn:
    return EventIn(
        actor="tester", action="test.happened", resource_type="task", resource_id=f"t{i}", **kw
    )  # type: ignore[arg-type]


def sample_rows() -> dict[str, list[object]]:
    return {
        "tasks": [
            Task(
                id="t1",
                kind="shell",
                spec={"argv": ["echo", "hi"]},
                labels={"team": "a"},
                state=TaskState.RUNNING,
                deadline=NOW,
                locks=["x"],
                created_at=NOW,
            )
        ],
        "attempts": [
            Attempt(
                task_id="t1", attempt=1, worker_id="w1", state=TaskState.RUNNING, started_at=NOW
            )
        ],
        "task_output": [
            OutputChunk(task_id="t1", attempt=1, stream="stdout", offset=0, data="hé\n")
        ],
        "workers": [
            WorkerInfo(
                id="w1", url="http://127.0.0.1:1", kinds=["shell"], capacity=2, labels={"gpu": "no"}
            )
        ],
        "chat_sessions": [ChatSession(id="s1", owner="alice", title="t")],
        "chat_messages": [ChatMessage(session_id="s1", seq=1, role="user", content="/tasks")],
        "saved_queries": [SavedQuery(id="q1", name="n", sql="SELECT 1", parameters={"a": [1, 2]})],
        "saved_query_revisions": [
            SavedQueryRevision(query_id="q1", revision=1, name="n", sql="SELECT 1")
        ],
        "query_runs": [
            QueryRun(
                id="r1",
                query_id="q1",
                revision=1,
                actor="a",
                started_at=NOW,
                duration_ms=1.5,
                rows=1,
                status="ok",
            )
        ],
        "alerts": [Alert(id="a1", kind="failure_rate", message="high")],
        "waivers": [Waiver(id="wv1", task_id="t1", requested_by="bob", reason="false positive")],
        "runbook_runs": [RunbookRun(id="rb1", name="audit", actor="a", parameters={"days": 7})],
        "api_tokens": [ApiToken(id="k1", name="ci", role=Role.OPERATOR, token_hash="ab" * 32)],
        "kpi_samples": [KpiSample(ts=NOW, tasks_per_min=3.5, success_rate=None, active_workers=2)],
        "agent_runs": [
            AgentRun(
                task_id="t1",
                attempt=1,
                session_id="s-1",
                model="claude-sonnet-4-5",
                input_tokens=10,
                cost_usd=0.5,
                cost_source="runtime",
                labels={"team": "a"},
                finished_at=NOW,
            )
        ],
        "transcript_items": [
            StoredTranscriptItem(
                task_id="t1",
                attempt=1,
                seq=1,
                time=NOW,
                type=TranscriptItemType.TOOL_USE,
                tool_name="Bash",
                input={"command": "ls"},
            )
        ],
        "task_changes": [
            StoredChanges(
                task_id="t1",
                attempt=1,
                method="git",
                root="/w",
                files=[FileChange(path="a.txt", status="added")],
                diff="+a\n",
                cap_bytes=100,
            )
        ],
        "budgets": [
            Budget(id="b1", name="team a", selector={"team": "a"}, cap_usd=5, created_by="x")
        ],
        "schedules": [
            Schedule(id="s1", name="nightly", cron="0 2 * * *", task=TEMPLATE, since=NOW)
        ],
        "schedule_revisions": [
            ScheduleRevision(
                schedule_id="s1", revision=1, name="nightly", cron="0 2 * * *", task=TEMPLATE
            )
        ],
        "schedule_fires": [
            ScheduleFire(schedule_id="s1", slot=NOW, task_id="t1", lateness=0.25),
            ScheduleFire(
                schedule_id="s1", slot=NOW, manual=True, skipped_reason=SkipReason.OVERLAP
            ),
        ],
    }


def test_every_table_has_its_model_columns(tmp_path: Path) -> None:
    from agency.storage.connection import connect
    from agency.storage.migrate import Migrator

    conn = connect(tmp_path / "c.duckdb")
    Migrator(conn).migrate()
    columns = load_columns(conn)
    conn.close()
    for table, model in TABLE_MODELS.items():
        assert sorted(c for c, _ in columns[table]) == sorted(model.model_fields), table


async def test_every_model_round_trips(store: Store) -> None:
    rows = sample_rows()
    assert set(rows) == set(TABLE_MODELS) - {"events"}
    await store.write(
        *(Insert(t, [m.model_dump(mode="python") for m in ms]) for t, ms in rows.items())
    )  # type: ignore[attr-defined]
    for table, models in rows.items():
        back = await store.fetch(f"SELECT * FROM {table}")
        model_cls = TABLE_MODELS[table]
        assert [model_cls.model_validate(r) for r in back] == models, table


async def test_write_returns_chained_events_after_commit(store: Store) -> None:
    task = Task(id="t1", kind="noop", spec={})
    events = await store.write(
        Upsert("tasks", [task.model_dump(mode="python")]), ev(1, details={"n": 1}), ev(2)
    )
    assert [e.seq for e in events] == [1, 2]
    assert events[0].prev_hash == "0" * 64 and events[1].prev_hash == events[0].hash
    assert events[0].details == {"n": 1}
    assert store.last_seq == 2
    # resolved means committed: a fresh cursor sees both the row and the events
    assert (await store.fetch("SELECT count(*) AS n FROM events"))[0]["n"] == 2
    assert (await store.fetch("SELECT state FROM tasks"))[0]["state"] == "pending"


async def test_upsert_replaces_and_dedupes_within_a_batch(store: Store) -> None:
    base = Task(id="t1", kind="noop", spec={}).model_dump(mode="python")
    await store.write(Upsert("tasks", [base]))
    # the same key twice in one statement: DuckDB would refuse, the writer keeps the last
    await asyncio.gather(
        store.write(Upsert("tasks", [{**base, "state": "dispatched"}])),
        store.write(Upsert("tasks", [{**base, "state": "running", "attempt": 1}])),
    )
    rows = await store.fetch("SELECT state, attempt FROM tasks")
    assert rows == [{"state": "running", "attempt": 1}]


async def test_upserts_by_a_tables_only_key_replace_whole_rows(store: Store) -> None:
    # such upserts delete by the key and insert (cheaper than INSERT OR REPLACE in DuckDB):
    # the row must end as the last write, once, and the indexes must follow it
    assert store._writer.sole_keys["tasks"] == frozenset({"id"})
    assert store._writer.sole_keys["attempts"] == frozenset({"task_id", "attempt"})
    base = Task(id="t1", kind="noop", spec={}, labels={"a": "b"}).model_dump(mode="python")
    await store.write(Upsert("tasks", [base]), journal=True)
    await store.write(Upsert("tasks", [{**base, "state": "running", "labels": {}}]), journal=True)
    await store.write(Upsert("tasks", [{**base, "state": "succeeded", "attempt": 1}]))
    rows = await store.fetch("SELECT state, attempt, labels FROM tasks")
    assert rows == [{"state": "succeeded", "attempt": 1, "labels": {"a": "b"}}]
    assert await store.fetch("SELECT id FROM tasks WHERE state = 'pending'") == []
    assert await store.fetch("SELECT id FROM tasks WHERE state = 'succeeded'") == [{"id": "t1"}]
    done = Attempt(task_id="t1", attempt=1, worker_id="w", state=TaskState.SUCCEEDED)
    row = done.model_dump(mode="python")
    key = ("task_id", "attempt")
    await store.write(Upsert("attempts", [row], key=key), Upsert("attempts", [row], key=key))
    assert (await store.fetch("SELECT count(*) AS n FROM attempts"))[0]["n"] == 1


async def test_delete_by_key(store: Store) -> None:
    msgs = [
        ChatMessage(session_id="s", seq=i, role="user", content=str(i)).model_dump(mode="python")
        for i in range(1, 4)
    ]
    await store.write(Insert("chat_messages", msgs))
    await store.write(Delete("chat_messages", [{"session_id": "s", "seq": 2}]))
    assert [r["seq"] for r in await store.fetch("SELECT seq FROM chat_messages ORDER BY seq")] == [
        1,
        3,
    ]


async def test_a_bad_write_fails_alone_and_atomically(store: Store) -> None:
    good = Task(id="g", kind="noop", spec={}).model_dump(mode="python")
    dup = Task(id="d", kind="noop", spec={}).model_dump(mode="python")
    await store.write(Insert("tasks", [dup]))
    # queued together: one group commit; the duplicate insert must fail only its caller,
    # and its own event must not land (one caller's ops are one transaction)
    results = await asyncio.gather(
        store.write(Insert("tasks", [good]), ev(1)),
        store.write(Insert("tasks", [dup]), ev(2)),
        store.write(Insert("nope", [{"x": 1}])),
        store.write(ev(3)),
        return_exceptions=True,
    )
    assert [type(r).__name__ for r in results] == ["list", "Conflict", "StorageError", "list"]
    assert isinstance(results[1], Conflict) and isinstance(results[2], StorageError)
    ids = [
        r["resource_id"] for r in await store.fetch("SELECT resource_id FROM events ORDER BY seq")
    ]
    assert ids == ["t1", "t3"]
    assert (await store.verify_chain()).ok
    assert {r["id"] for r in await store.fetch("SELECT id FROM tasks")} == {"g", "d"}


async def test_events_are_append_only_through_write(store: Store) -> None:
    with pytest.raises(StorageError, match="append-only"):
        await store.write(Delete("events", [{"seq": 1}]))
    with pytest.raises(StorageError, match="no column"):
        await store.write(Insert("tasks", [{"id": "x", "bogus": 1}]))


async def test_close_drains_queued_writes_then_refuses(settings_path: Path) -> None:
    s = await Store.open(settings_path)
    pending = [asyncio.ensure_future(s.append(ev(i))) for i in range(300)]
    await asyncio.sleep(0)  # let them enqueue
    await s.close()
    assert [len(p.result()) for p in pending] == [1] * 300
    with pytest.raises(StoreClosed):
        await s.append(ev())
    with pytest.raises(StoreClosed):
        await s.fetch("SELECT 1")
    s2 = await Store.open(settings_path)
    try:
        assert s2.last_seq == 300
        assert (await s2.verify_chain()).ok
    finally:
        await s2.close()


async def test_subscribers_get_committed_events_in_order(store: Store) -> None:
    sub = store.subscribe()
    small = store.subscribe(maxsize=5)
    await asyncio.gather(*(store.append(ev(i)) for i in range(20)))
    got = []
    async for e in sub:
        got.append(e.seq)
        if len(got) == 20:
            break
    assert got == list(range(1, 21))
    assert small.lagged and small.dropped == 15
    assert [e.seq async for e in _take(small, 5)] == list(range(16, 21))
    sub.close()
    assert [e async for e in sub] == []


async def _take(sub, n):  # type: ignore[no-untyped-def]
    async for e in sub:
        yield e
        n -= 1
        if n == 0:
            return


async def test_fifty_concurrent_writers(store: Store) -> None:
    """50 writers x 1,000 events: all land, each writer's in its order, the chain verifies."""

    async def writer(w: int) -> list[int]:
        seqs = []
        for i in range(1000):
            (e,) = await store.append(
                EventIn(
                    actor=f"w{w}",
                    action="bulk",
                    resource_type="writer",
                    resource_id=str(w),
                    details={"i": i},
                )
            )
            seqs.append(e.seq)
        return seqs

    results = await asyncio.wait_for(asyncio.gather(*(writer(w) for w in range(50))), timeout=120)
    assert all(s == sorted(s) for s in results)
    assert sorted(x for s in results for x in s) == list(range(1, 50_001))
    rows = await store.fetch(
        "SELECT actor, list(details->>'$.i' ORDER BY seq) AS i FROM events GROUP BY actor"
    )
    assert len(rows) == 50
    assert all([int(x) for x in r["i"]] == list(range(1000)) for r in rows)
    report = await store.verify_chain()
    assert report.ok and report.checked == 50_000


_CHILD = """
import asyncio, sys
from pathlib import Path
from agency.models import EventIn, Task
from agency.storage import Store, Upsert

async def main():
    s = await Store.open(Path(sys.argv[1]))
    t = Task(id="persist", kind="noop", spec={"sleep": 0})
    await s.write(Upsert("tasks", [t.model_dump(mode="python")]),
                  EventIn(actor="child", action="task.created", resource_type="task", resource_id="persist"))
    print(s.last_seq)
    await s.close()

asyncio.run(main())
"""


async def test_data_survives_a_restart_in_another_process(settings_path: Path) -> None:
    for expected in ("1", "2"):
        out = subprocess.run(
            [sys.executable, "-c", _CHILD, str(settings_path)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == expected  # the second process continued the chain
    s = await Store.open(settings_path)
    try:
        rows = await s.fetch("SELECT * FROM tasks")
        assert Task.model_validate(rows[0]).spec == {"sleep": 0}
        assert s.last_seq == 2 and (await s.verify_chain()).ok
    finally:
        await s.close()


async def test_fetch_df_decodes_json_and_times_are_utc(store: Store) -> None:
    t = Task(id="t1", kind="noop", spec={"sleep": 1}, created_at=NOW + timedelta(hours=1))
    await store.write(Insert("tasks", [t.model_dump(mode="python")]))
    df = await store.fetch_df("SELECT id, spec, created_at FROM tasks")
    assert df.loc[0, "spec"] == {"sleep": 1}
    assert df.loc[0, "created_at"] == NOW + timedelta(hours=1)
    row = (await store.fetch("SELECT created_at FROM tasks"))[0]
    assert row["created_at"] == NOW + timedelta(hours=1) and row[
        "created_at"
    ].utcoffset() == timedelta(0)
