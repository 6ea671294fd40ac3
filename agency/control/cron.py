"""``CronSlots``: the instants a cron expression names in an IANA time zone, in UTC.

croniter walks the *wall clock* here, on naive datetimes, where there is no daylight-saving
time to get wrong; each wall time is then placed on the real time line, as cron(8) does:

- a wall time that happens once is one slot;
- a wall time that happens twice (the hour repeated when clocks go back) is one slot, the
  first, unless the expression runs every hour: then the repeated hour is a real hour of
  its own and runs too (an hourly job fires every hour, a daily one once a day);
- a wall time that never happens (the hour skipped when clocks go forward) fires at the
  first instant after the gap, once however many of its times fell in it.

So across either transition nothing is skipped and nothing runs twice.

croniter is slow (about 0.2 ms to parse an expression, 0.06 ms a step), and a control plane
with thousands of schedules asks the same questions of the same expressions at the same
instants (every ``*/5 * * * *`` schedule's next slot after 12:00). So ``cron_slots`` shares
one ``CronSlots`` per expression and zone, each remembering its recent ``next_after`` answers,
and a walk starts at the wall time itself unless a clock change is near.
"""

from __future__ import annotations

import functools
import heapq
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from croniter import croniter

#: longer than any daylight-saving shift (the largest in use is 2 hours)
_MAX_SHIFT = timedelta(hours=3)
_SECOND = timedelta(seconds=1)
#: ``next_after`` answers one ``CronSlots`` keeps (one per schedule's cursor at worst)
MEMO_MAX = 32_768


@functools.lru_cache(maxsize=4096)
def cron_slots(expr: str, timezone: str) -> CronSlots:
    """The shared ``CronSlots`` of ``expr`` in ``timezone`` (see the module docstring)."""
    return CronSlots(expr, timezone)


class CronSlots:
    """The slots of ``expr`` (checked by ``agency.models.schedules.check_cron``) in ``timezone``."""

    def __init__(self, expr: str, timezone: str) -> None:
        self.expr = expr
        self.zone = ZoneInfo(timezone)
        # croniter's stubs say str; at run time the field is ints, or ["*"] for every hour
        hours: list[Any] = list(croniter(expr, datetime(2000, 1, 1)).expanded[1])
        self.every_hour = hours == ["*"] or set(hours) == set(range(24))
        self._next: dict[datetime, datetime] = {}

    def next_after(self, start: datetime) -> datetime:
        """The first slot strictly after ``start`` (remembered: see the module docstring)."""
        found = self._next.get(start)
        if found is None:
            found = next(self.after(start))
            if len(self._next) >= MEMO_MAX:
                self._next.clear()
            self._next[start] = found
        return found

    def _steady(self, t: datetime) -> bool:
        """No clock change within ``_MAX_SHIFT`` of ``t`` (no zone changes twice in that
        long, so equal offsets at both ends and at ``t`` mean none in between)."""
        offset = t.astimezone(self.zone).utcoffset()
        return (t - _MAX_SHIFT).astimezone(self.zone).utcoffset() == offset and (
            t + _MAX_SHIFT
        ).astimezone(self.zone).utcoffset() == offset

    def after(self, start: datetime) -> Iterator[datetime]:
        """Slots strictly after ``start``, ascending, in UTC (endless)."""
        start = start.astimezone(UTC)
        wall = start.astimezone(self.zone).replace(tzinfo=None)
        if not self._steady(start):
            # a repeated wall time after ``start`` may read earlier than start's own wall time
            wall -= _MAX_SHIFT
        it = croniter(self.expr, wall)
        heap: list[datetime] = []
        last: datetime | None = None
        while True:
            found = self.instants(it.get_next(datetime))
            for t in found:
                heapq.heappush(heap, t)
            # every later wall time lands at or after this one's first instant
            while heap and heap[0] <= found[0]:
                t = heapq.heappop(heap)
                if t > start and t != last:
                    last = t
                    yield t

    def until(self, end: datetime) -> Iterator[datetime]:
        """Slots at or before ``end``, descending, in UTC (down to the year 1 at worst)."""
        end = end.astimezone(UTC)
        wall = end.astimezone(self.zone).replace(tzinfo=None) + _SECOND
        if not self._steady(end):
            wall += _MAX_SHIFT
        it = croniter(self.expr, wall)
        heap: list[tuple[float, datetime]] = []  # a max-heap by negated timestamp
        last: datetime | None = None
        while True:
            found = self.instants(it.get_prev(datetime))
            for t in found:
                heapq.heappush(heap, (-t.timestamp(), t))
            while heap and heap[0][1] >= found[-1]:
                t = heapq.heappop(heap)[1]
                if t <= end and t != last:
                    last = t
                    yield t

    def instants(self, wall: datetime) -> list[datetime]:
        """Where the naive wall time ``wall`` falls on the time line (ascending, in UTC)."""
        first = wall.replace(tzinfo=self.zone, fold=0).astimezone(UTC)
        second = wall.replace(tzinfo=self.zone, fold=1).astimezone(UTC)
        if first == second:
            return [first]
        if first.astimezone(self.zone).replace(tzinfo=None) == wall:  # it happens twice
            return [first, second] if self.every_hour else [first]
        # it never happens: fold=0 reads it with the offset before the gap (an instant after
        # the change) and fold=1 with the one after (an instant before it)
        return [_change_between(self.zone, second, first)]


def _change_between(zone: ZoneInfo, before: datetime, after: datetime) -> datetime:
    """The first whole second of ``after``'s UTC offset, searched between the two."""
    offset = after.astimezone(zone).utcoffset()
    lo, hi = before, after
    while hi - lo > _SECOND:
        mid = lo + timedelta(seconds=int((hi - lo).total_seconds() // 2))
        if mid.astimezone(zone).utcoffset() == offset:
            hi = mid
        else:
            lo = mid
    return hi
