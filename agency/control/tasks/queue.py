"""The in-memory queue of pending tasks: priority first, then age; delayed tasks wait apart.

It holds task ids only; the tasks themselves live in the orchestrator's table. Removal is
lazy (a removed id is skipped when it reaches the top), so every operation is O(log n).
"""

from __future__ import annotations

import heapq
import itertools

from agency.models import Task

_Key = tuple[int, float, int, str]  # (-priority, created_at, seq, task_id)


class TaskQueue:
    """Pending task ids ordered by (priority desc, created_at asc); ``not_before`` respected."""

    def __init__(self) -> None:
        self._ready: list[_Key] = []
        self._delayed: list[tuple[float, _Key]] = []
        # id -> the sequence number of its live entry; anything else in the heaps is stale
        self._live: dict[str, int] = {}
        self._seq = itertools.count()

    def __len__(self) -> int:
        return len(self._live)

    def __contains__(self, task_id: object) -> bool:
        return task_id in self._live

    def push(self, task: Task, now: float) -> None:
        """Queue ``task`` (again); a second push of the same id replaces the first."""
        seq = next(self._seq)
        self._live[task.id] = seq
        key = (-task.priority, task.created_at.timestamp(), seq, task.id)
        if task.not_before is not None and task.not_before.timestamp() > now:
            heapq.heappush(self._delayed, (task.not_before.timestamp(), key))
        else:
            heapq.heappush(self._ready, key)

    def remove(self, task_id: str) -> None:
        self._live.pop(task_id, None)

    def _promote(self, now: float) -> None:
        while self._delayed and self._delayed[0][0] <= now:
            _, key = heapq.heappop(self._delayed)
            if self._live.get(key[3]) == key[2]:
                heapq.heappush(self._ready, key)

    def pop(self, now: float) -> str | None:
        """The best ready task id, removed from the queue; ``None`` when none is ready."""
        self._promote(now)
        while self._ready:
            _, _, seq, task_id = heapq.heappop(self._ready)
            if self._live.get(task_id) == seq:
                del self._live[task_id]
                return task_id
        return None

    def next_ready_at(self) -> float | None:
        """When the earliest delayed task becomes ready (epoch seconds), if any."""
        while self._delayed and self._live.get(self._delayed[0][1][3]) != self._delayed[0][1][2]:
            heapq.heappop(self._delayed)
        return self._delayed[0][0] if self._delayed else None

    def has_ready(self, now: float) -> bool:
        """Whether a queued task could be dispatched now."""
        self._promote(now)
        while self._ready and self._live.get(self._ready[0][3]) != self._ready[0][2]:
            heapq.heappop(self._ready)
        return bool(self._ready)

    def ids(self) -> list[str]:
        return list(self._live)
