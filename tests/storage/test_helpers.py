"""Typed query helpers: task listing with filters and keyset cursors, events, chat, the rest."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from agency.errors import InvalidCursor
from agency.models import (
    Alert,
    AlertState,
    ApiToken,
    Attempt,
    ChatMessage,
    ChatSession,
    EventIn,
    KpiSample,
    OutputChunk,
    Role,
    SavedQuery,
    SavedQueryRevision,
    Task,
    TaskState,
    Waiver,
    WorkerHealth,
    WorkerInfo,
)
from agency.storage import Insert, Store, chat, events, misc, queries, tasks, workers

T0 = datetime(2030, 1, 1, tzinfo=UTC)
STATES = [TaskState.PENDING, TaskState.RUNNING, TaskState.SUCCEEDED, TaskState.FAILED]


@pytest.fixture
async def seeded(store: Store) -> Store:
    rows = []
    for i in range(40):
        rows.append(
            Task(
                id=f"task{i:02d}",
                kind="shell" if i % 2 else "noop",
                spec={"argv": [f"cmd{i}"]} if i % 2 else {},
                labels={"team": "red" if i % 3 == 0 else "blue", "odd key": "x"},
                priority=i % 5,
                state=STATES[i % 4],
                worker_id="w1" if i < 10 else None,
                idempotency_key=f"k{i}",
                created_at=T0 + timedelta(minutes=i),
                updated_at=T0 + timedelta(minutes=80 - i),
            ).model_dump(mode="python")
        )
    await store.write(Insert("tasks", rows))
    return store


async def test_get_task_and_by_key(seeded: Store) -> None:
    task = await tasks.get_task(seeded, "task07")
    assert task is not None and task.kind == "shell" and task.spec == {"argv": ["cmd7"]}
    assert (await tasks.get_task_by_key(seeded, "k7")) == task
    assert await tasks.get_task(seeded, "nope") is None


async def _all_pages(store: Store, q: tasks.TaskQuery) -> list[str]:
    seen: list[str] = []
    for _ in range(100):
        page = await tasks.list_tasks(store, q)
        seen += [t.id for t in page.items]
        if page.next_cursor is None:
            return seen
        q.cursor = page.next_cursor
    raise AssertionError("paging never ended")


@pytest.mark.parametrize(
    ("sort", "descending"),
    [
        ("created_at", True),
        ("created_at", False),
        ("updated_at", True),
        ("priority", True),
        ("priority", False),
    ],
)
async def test_keyset_paging_visits_every_task_once_in_order(
    seeded: Store, sort: str, descending: bool
) -> None:
    ids = await _all_pages(seeded, tasks.TaskQuery(sort=sort, descending=descending, limit=7))  # type: ignore[arg-type]
    assert sorted(ids) == sorted(f"task{i:02d}" for i in range(40))
    everything = {
        t.id: t for t in (await tasks.list_tasks(seeded, tasks.TaskQuery(limit=500))).items
    }
    keys = [(getattr(everything[i], sort), i) for i in ids]
    assert keys == sorted(keys, reverse=descending)


async def test_filters(seeded: Store) -> None:
    async def ids(**kw: object) -> set[str]:
        q = tasks.TaskQuery(limit=500, **kw)  # type: ignore[arg-type]
        page = await tasks.list_tasks(seeded, q)
        assert await tasks.count_tasks(seeded, q) == len(page.items)
        return {t.id for t in page.items}

    assert await ids(states=[TaskState.RUNNING]) == {f"task{i:02d}" for i in range(1, 40, 4)}
    assert await ids(states=["pending", "failed"], kind="noop") == {
        f"task{i:02d}" for i in range(0, 40, 4)
    }
    assert await ids(worker_id="w1") == {f"task{i:02d}" for i in range(10)}
    assert await ids(label="team=red") == {f"task{i:02d}" for i in range(0, 40, 3)}
    assert len(await ids(label="odd key=x")) == 40
    assert await ids(created_after=T0 + timedelta(minutes=38)) == {"task38", "task39"}
    assert await ids(created_before=T0 + timedelta(minutes=2)) == {"task00", "task01"}
    assert await ids(text="CMD13") == {"task13"}
    assert await ids(text="task3") == {f"task{i}" for i in range(30, 40)}
    assert await ids(text="100%_") == set()


@pytest.mark.parametrize("cursor", ["garbage", "e30", "WzEsMl0", "!!!", ""])
async def test_garbage_cursor(seeded: Store, cursor: str) -> None:
    if not cursor:
        assert (await tasks.list_tasks(seeded, tasks.TaskQuery(cursor=cursor))).items
        return
    with pytest.raises(InvalidCursor):
        await tasks.list_tasks(seeded, tasks.TaskQuery(cursor=cursor))


async def test_counts_unfinished_attempts_output(seeded: Store) -> None:
    counts = await tasks.counts_by_state(seeded)
    assert counts["pending"] == counts["running"] == counts["succeeded"] == counts["failed"] == 10
    assert counts["canceled"] == 0 and set(counts) == {s.value for s in TaskState}
    unfinished = await tasks.unfinished_tasks(seeded)
    assert {t.state for t in unfinished} == {TaskState.PENDING, TaskState.RUNNING} and len(
        unfinished
    ) == 20
    await seeded.write(
        Insert(
            "attempts",
            [
                Attempt(task_id="task01", attempt=a, state=TaskState.FAILED).model_dump(
                    mode="python"
                )
                for a in (2, 1)
            ],
        ),
        Insert(
            "task_output",
            [
                OutputChunk(
                    task_id="task01", attempt=2, stream="stdout", offset=o, data=d
                ).model_dump(mode="python")
                for o, d in ((0, "hello "), (6, "wörld\n"), (12, "bye"))
            ],
        ),
        Insert(
            "task_output",
            [
                OutputChunk(
                    task_id="task01", attempt=1, stream="stdout", offset=0, data="old"
                ).model_dump(mode="python")
            ],
        ),
    )
    assert [a.attempt for a in await tasks.list_attempts(seeded, "task01")] == [1, 2]
    assert await tasks.read_output(seeded, "task01", "stdout", 0) == ("hello wörld\nbye", 15)
    assert await tasks.read_output(seeded, "task01", "stdout", 8) == ("rld\nbye", 15)
    assert await tasks.read_output(seeded, "task01", "stdout", 15) == ("", 15)
    assert await tasks.read_output(seeded, "task01", "stdout", 0, attempt=1) == ("old", 3)
    assert await tasks.read_output(seeded, "task01", "stderr", 0) == ("", 0)
    assert await tasks.read_output(seeded, "nope", "stdout", 4) == ("", 4)


async def test_events_listing_and_timeline(store: Store) -> None:
    await store.append(
        *(
            EventIn(
                actor="alice" if i % 2 else "bob",
                action="task.created" if i < 5 else "worker.seen",
                resource_type="task" if i < 5 else "worker",
                resource_id=f"r{i % 3}",
            )
            for i in range(10)
        )
    )
    assert [e.seq for e in await events.list_events(store, actor="alice")] == [2, 4, 6, 8, 10]
    assert len(await events.list_events(store, action="task.")) == 5
    assert [e.seq for e in await events.list_events(store, after_seq=7, limit=2)] == [8, 9]
    assert [e.seq for e in await events.list_events(store, limit=3, descending=True)] == [10, 9, 8]
    assert [e.seq for e in await events.task_timeline(store, "r1")] == [2, 5]
    first = (await events.list_events(store, limit=1))[0]
    assert await events.list_events(store, since=first.ts, until=first.ts) == []
    assert (await events.get_event(store, 3)) == (
        await events.list_events(store, after_seq=2, limit=1)
    )[0]


async def test_chat_queries_workers_misc(store: Store) -> None:
    dump = lambda *ms: [m.model_dump(mode="python") for m in ms]  # noqa: E731
    await store.write(
        Insert(
            "chat_sessions",
            dump(ChatSession(id="s1", owner="alice"), ChatSession(id="s2", owner="bob")),
        ),
        Insert(
            "chat_messages",
            dump(
                *(
                    ChatMessage(session_id="s1", seq=i, role="user", content=str(i))
                    for i in range(1, 6)
                )
            ),
        ),
        Insert(
            "saved_queries", dump(SavedQuery(id="q1", name="by state", sql="SELECT 1", revision=2))
        ),
        Insert(
            "saved_query_revisions",
            dump(
                *(
                    SavedQueryRevision(
                        query_id="q1", revision=r, name="by state", sql=f"SELECT {r}"
                    )
                    for r in (2, 1)
                )
            ),
        ),
        Insert(
            "workers",
            dump(
                WorkerInfo(id="w2", url="u", kinds=[], capacity=1),
                WorkerInfo(
                    id="w1", url="u", kinds=["shell"], capacity=1, health=WorkerHealth.REMOVED
                ),
            ),
        ),
        Insert(
            "alerts",
            dump(
                Alert(id="a1", kind="k", message="m"),
                Alert(id="a2", kind="k", message="m", state=AlertState.DISMISSED),
            ),
        ),
        Insert("waivers", dump(Waiver(id="v1", task_id="t1", requested_by="x", reason="r"))),
        Insert("api_tokens", dump(ApiToken(id="k1", name="n", role=Role.VIEWER, token_hash="h1"))),
        Insert(
            "kpi_samples",
            dump(*(KpiSample(ts=T0 + timedelta(seconds=i), queue_depth=i) for i in range(5))),
        ),
    )
    assert [m.seq for m in await chat.list_messages(store, "s1", after_seq=3)] == [4, 5]
    assert (
        await chat.last_message_seq(store, "s1") == 5
        and await chat.last_message_seq(store, "s9") == 0
    )
    assert [s.id for s in await chat.list_sessions(store, owner="bob")] == ["s2"]
    assert (await chat.get_session(store, "s1")) is not None
    assert (
        await queries.get_saved_query_by_name(store, "by state")
    ) == await queries.get_saved_query(store, "q1")
    assert [r.revision for r in await queries.list_revisions(store, "q1")] == [1, 2]
    assert (await queries.get_revision(store, "q1", 1)).sql == "SELECT 1"  # type: ignore[union-attr]
    assert [w.id for w in await workers.list_workers(store)] == ["w2"]
    assert [w.id for w in await workers.list_workers(store, include_removed=True)] == ["w1", "w2"]
    assert (await workers.get_worker(store, "w1")).kinds == ["shell"]  # type: ignore[union-attr]
    assert [a.id for a in await misc.list_alerts(store, AlertState.OPEN)] == ["a1"]
    assert [w.id for w in await misc.list_waivers(store, task_id="t1")] == ["v1"]
    assert (await misc.get_token_by_hash(store, "h1")).id == "k1"  # type: ignore[union-attr]
    assert [k.queue_depth for k in await misc.list_kpi_samples(store, limit=3)] == [2, 3, 4]
    assert (await misc.latest_kpi_sample(store)).queue_depth == 4  # type: ignore[union-attr]
