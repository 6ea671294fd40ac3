"""``TimelineRepository``: ended attempts by time window, joined to their task, newest kept."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from agency.models import Attempt, Task, TaskState
from agency.storage import Insert, Repositories, Store

T0 = datetime(2030, 1, 1, tzinfo=UTC)


async def seed(store: Store) -> None:
    """Task ``t<i>`` (i = 0..9) ran on w<i % 2> from T0 + i min for 30 s; t3 twice."""
    tasks, attempts = [], []
    for i in range(10):
        tasks.append(
            Task(
                id=f"t{i}",
                kind="shell",
                spec={"argv": ["sh", "-c", f"echo {i}; exit 0"]},
                state=TaskState.SUCCEEDED,
                created_at=T0,
                updated_at=T0,
            ).model_dump(mode="python")
        )
        start = T0 + timedelta(minutes=i)
        attempts.append(
            Attempt(
                task_id=f"t{i}",
                attempt=1,
                worker_id=f"w{i % 2}",
                state=TaskState.FAILED if i == 3 else TaskState.SUCCEEDED,
                reason="exit code 1" if i == 3 else None,
                started_at=start,
                finished_at=start + timedelta(seconds=30),
            ).model_dump(mode="python")
        )
    attempts.append(
        Attempt(
            task_id="t3",
            attempt=2,
            worker_id="w0",
            state=TaskState.SUCCEEDED,
            started_at=T0 + timedelta(minutes=3, seconds=40),
            finished_at=T0 + timedelta(minutes=3, seconds=50),
        ).model_dump(mode="python")
    )
    await store.write(Insert("tasks", tasks), Insert("attempts", attempts))


async def test_attempts_overlapping_the_window_oldest_first_with_kind_and_command(
    store: Store,
) -> None:
    await seed(store)
    repo = Repositories(store).timeline
    # [T0+2m15s, T0+4m): t2 (ended 2m30s), t3 both attempts, not t4 (starts at 4m), not t1
    bars, more = await repo.finished(
        T0 + timedelta(minutes=2, seconds=15), T0 + timedelta(minutes=4), 100
    )
    assert [(b.task_id, b.attempt) for b in bars] == [("t2", 1), ("t3", 1), ("t3", 2)]
    assert not more
    first = bars[1]
    assert first.worker_id == "w1" and first.state == TaskState.FAILED
    assert first.reason == "exit code 1" and first.kind == "shell"
    assert first.command == "sh -c 'echo 3; exit 0'"
    assert first.finished_at == T0 + timedelta(minutes=3, seconds=30)


async def test_the_limit_keeps_the_newest_and_says_more_overlapped(store: Store) -> None:
    await seed(store)
    bars, more = await Repositories(store).timeline.finished(T0, T0 + timedelta(hours=1), 3)
    assert more
    assert [(b.task_id, b.attempt) for b in bars] == [("t7", 1), ("t8", 1), ("t9", 1)]
    empty, more = await Repositories(store).timeline.finished(
        T0 + timedelta(hours=1), T0 + timedelta(hours=2), 3
    )
    assert empty == [] and not more
