"""``SlateBook``: the scheduler's schedules in memory, found by id or name, due in order.

With thousands of schedules the ticker must not look at each of them every second, nor a
create scan them all for a name: the book keeps a name index and a heap of due times, so
finding what is due, the next due time and a name cost O(log n) or O(1). Heap entries are
never updated in place: a slate's new due time is pushed, and an entry whose time is no
longer its slate's is dropped when it reaches the top.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterator
from datetime import datetime

from agency.control.schedule_plan import Slate

#: stale heap entries tolerated, beyond one per schedule, before the heap is rebuilt
SLACK = 64


class SlateBook:
    """Slates by id and by name, and when each is due."""

    def __init__(self) -> None:
        self._by_id: dict[str, Slate] = {}
        self._by_name: dict[str, str] = {}
        self._name_of: dict[str, str] = {}  # the name each id is indexed under
        self._heap: list[tuple[datetime, int, str]] = []
        self._order = itertools.count()  # ties in due time never compare ids

    def __len__(self) -> int:
        return len(self._by_id)

    def __iter__(self) -> Iterator[Slate]:
        return iter(list(self._by_id.values()))

    def get(self, schedule_id: str) -> Slate | None:
        return self._by_id.get(schedule_id)

    def find(self, ref: str) -> Slate | None:
        """By id, else by name."""
        slate = self._by_id.get(ref)
        if slate is None and ref in self._by_name:
            slate = self._by_id.get(self._by_name[ref])
        return slate

    def name_taken(self, name: str, other_than: str | None = None) -> bool:
        owner = self._by_name.get(name)
        return owner is not None and owner != other_than

    def put(self, slate: Slate) -> None:
        """Add a slate, or take a changed one (renamed, rescheduled): indexes follow."""
        s = slate.schedule
        old = self._name_of.get(s.id)
        if old is not None and old != s.name and self._by_name.get(old) == s.id:
            del self._by_name[old]
        self._by_id[s.id] = slate
        self._by_name[s.name] = s.id
        self._name_of[s.id] = s.name
        self.moved(slate)

    def remove(self, schedule_id: str) -> None:
        self._by_id.pop(schedule_id, None)
        name = self._name_of.pop(schedule_id, None)
        if name is not None and self._by_name.get(name) == schedule_id:
            del self._by_name[name]

    def moved(self, slate: Slate) -> None:
        """Note the slate's (new) due time."""
        if slate.due is not None:
            heapq.heappush(self._heap, (slate.due, next(self._order), slate.schedule.id))
        if len(self._heap) > 2 * len(self._by_id) + SLACK:
            self._heap = [
                (s.due, next(self._order), s.schedule.id)
                for s in self._by_id.values()
                if s.due is not None
            ]
            heapq.heapify(self._heap)

    def due(self, now: datetime) -> list[Slate]:
        """The slates due at ``now``, by name; taken off the heap (``moved`` puts them back)."""
        found: dict[str, Slate] = {}
        while self._heap and self._heap[0][0] <= now:
            at, _, schedule_id = heapq.heappop(self._heap)
            slate = self._by_id.get(schedule_id)
            if slate is not None and slate.due == at:
                found[schedule_id] = slate
        return sorted(found.values(), key=lambda s: s.schedule.name)

    def next_due(self) -> datetime | None:
        """When the earliest slot of any schedule is due (``None``: nothing will fire)."""
        while self._heap:
            at, _, schedule_id = self._heap[0]
            slate = self._by_id.get(schedule_id)
            if slate is not None and slate.due == at:
                return at
            heapq.heappop(self._heap)
        return None

    def counts(self) -> tuple[int, int]:
        """Active and paused schedules (read when ``/metrics`` is scraped)."""
        paused = sum(1 for s in self._by_id.values() if s.schedule.paused)
        return len(self._by_id) - paused, paused
