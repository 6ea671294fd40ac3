"""The repositories: task listing with filters and keyset cursors, events, chat, the rest."""

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
from agency.models.runs import AgentRun
from agency.storage import Insert, Repositories, Store, TaskQuery

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
    task = await Repositories(seeded).tasks.get("task07")
    assert task is not None and task.kind == "shell" and task.spec == {"argv": ["cmd7"]}
    assert (await Repositories(seeded).tasks.get_by_key("k7")) == task
    assert await Repositories(seeded).tasks.get("nope") is None


async def _all_pages(store: Store, q: TaskQuery) -> list[str]:
    seen: list[str] = []
    for _ in range(100):
        page = await Repositories(store).tasks.page(q)
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
    ids = await _all_pages(seeded, TaskQuery(sort=sort, descending=descending, limit=7))  # type: ignore[arg-type]
    assert sorted(ids) == sorted(f"task{i:02d}" for i in range(40))
    everything = {
        t.id: t for t in (await Repositories(seeded).tasks.page(TaskQuery(limit=500))).items
    }
    keys = [(getattr(everything[i], sort), i) for i in ids]
    assert keys == sorted(keys, reverse=descending)


async def test_filters(seeded: Store) -> None:
    async def ids(**kw: object) -> set[str]:
        q = TaskQuery(limit=500, **kw)  # type: ignore[arg-type]
        page = await Repositories(seeded).tasks.page(q)
        assert await Repositories(seeded).tasks.count(q) == len(page.items)
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
        assert (await Repositories(seeded).tasks.page(TaskQuery(cursor=cursor))).items
        return
    with pytest.raises(InvalidCursor):
        await Repositories(seeded).tasks.page(TaskQuery(cursor=cursor))


async def test_counts_unfinished_attempts_output(seeded: Store) -> None:
    counts = await Repositories(seeded).tasks.counts_by_state()
    assert counts["pending"] == counts["running"] == counts["succeeded"] == counts["failed"] == 10
    assert counts["canceled"] == 0 and set(counts) == {s.value for s in TaskState}
    unfinished = await Repositories(seeded).tasks.unfinished()
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
    assert [a.attempt for a in await Repositories(seeded).tasks.attempts("task01")] == [1, 2]
    assert await Repositories(seeded).tasks.read_output("task01", "stdout", 0) == (
        "hello wörld\nbye",
        15,
    )
    assert await Repositories(seeded).tasks.read_output("task01", "stdout", 8) == ("rld\nbye", 15)
    assert await Repositories(seeded).tasks.read_output("task01", "stdout", 15) == ("", 15)
    assert await Repositories(seeded).tasks.read_output("task01", "stdout", 0, attempt=1) == (
        "old",
        3,
    )
    assert await Repositories(seeded).tasks.read_output("task01", "stderr", 0) == ("", 0)
    assert await Repositories(seeded).tasks.read_output("nope", "stdout", 4) == ("", 4)


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
    assert [e.seq for e in await Repositories(store).events.find(actor="alice")] == [2, 4, 6, 8, 10]
    assert len(await Repositories(store).events.find(action="task.")) == 5
    assert [e.seq for e in await Repositories(store).events.find(after_seq=7, limit=2)] == [8, 9]
    assert [e.seq for e in await Repositories(store).events.find(limit=3, descending=True)] == [
        10,
        9,
        8,
    ]
    assert [e.seq for e in await Repositories(store).events.timeline("r1")] == [2, 5]
    first = (await Repositories(store).events.find(limit=1))[0]
    assert await Repositories(store).events.find(since=first.ts, until=first.ts) == []
    assert (await Repositories(store).events.get(3)) == (
        await Repositories(store).events.find(after_seq=2, limit=1)
    )[0]


async def test_chat_queries_workers_and_the_rest(store: Store) -> None:
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
    assert [m.seq for m in await Repositories(store).chat.messages("s1", after_seq=3)] == [4, 5]
    assert (
        await Repositories(store).chat.last_seq("s1") == 5
        and await Repositories(store).chat.last_seq("s9") == 0
    )
    assert [s.id for s in await Repositories(store).chat.sessions(owner="bob")] == ["s2"]
    assert (await Repositories(store).chat.get_session("s1")) is not None
    assert (await Repositories(store).queries.get_saved_by_name("by state")) == await Repositories(
        store
    ).queries.get_saved("q1")
    assert [r.revision for r in await Repositories(store).queries.revisions("q1")] == [1, 2]
    assert (await Repositories(store).queries.revision("q1", 1)).sql == "SELECT 1"  # type: ignore[union-attr]
    assert [w.id for w in await Repositories(store).workers.all()] == ["w2"]
    assert [w.id for w in await Repositories(store).workers.all(include_removed=True)] == [
        "w1",
        "w2",
    ]
    assert (await Repositories(store).workers.get("w1")).kinds == ["shell"]  # type: ignore[union-attr]
    assert [a.id for a in await Repositories(store).alerts.find(AlertState.OPEN)] == ["a1"]
    assert [w.id for w in await Repositories(store).waivers.find(task_id="t1")] == ["v1"]
    assert (await Repositories(store).tokens.get_by_hash("h1")).id == "k1"  # type: ignore[union-attr]
    assert [k.queue_depth for k in await Repositories(store).kpis.find(limit=3)] == [2, 3, 4]
    assert (await Repositories(store).kpis.latest()).queue_depth == 4  # type: ignore[union-attr]


async def test_usage_by_task_sums_attempts_in_one_read(store: Store) -> None:
    runs = [
        AgentRun(task_id="a", attempt=1, model="m-old", input_tokens=10, cost_usd=0.25, turns=2),
        AgentRun(task_id="a", attempt=2, model="m-new", output_tokens=5, cost_usd=0.5, turns=1),
        AgentRun(task_id="b", attempt=1, cache_read_tokens=7, cost_usd=0.125),
        AgentRun(task_id="c", attempt=1, cost_usd=9.0),  # not asked for
    ]
    repos = Repositories(store)
    await store.write(*(repos.agent_runs.run_op(r) for r in runs))
    got = await repos.agent_runs.usage_by_task(["a", "b", "nope", "a"])
    assert set(got) == {"a", "b"}
    attempt, usage = got["a"]
    assert attempt == 2 and usage.model == "m-new"
    assert (usage.input_tokens, usage.output_tokens, usage.turns) == (10, 5, 3)
    assert usage.cost_usd == 0.75
    assert got["b"][1].cache_read_tokens == 7 and got["b"][1].cost_usd == 0.125
    assert await repos.agent_runs.usage_by_task([]) == {}
