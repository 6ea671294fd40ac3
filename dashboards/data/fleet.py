"""Data of the Workers page's fleet timeline: the bars of a sliding window, kept up to date by
reading only what changed.

``FleetBars.load`` reads the whole window once. After that, ``update`` reads the bars that
ended since the last read (plus every bar still in flight, which the API always includes)
and merges them by (task, attempt); bars that slid out of the window are dropped. A page
calls ``update`` only when task events arrived, so an idle fleet costs no request at all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pandas as pd

from agency.client import AgencyClient
from agency.models.timeline import TimelineBar

from .timeline import fleet_frame

#: the window, in minutes, when the shared time range is "all"
DEFAULT_MINUTES = 15
#: the most bars one window holds (the API keeps the newest)
LIMIT = 2000
#: how far before the last read a delta read starts: an attempt row written just after that
#: read but ended just before it is not missed
OVERLAP = timedelta(seconds=5)

Key = tuple[str, int]


@dataclass
class FleetBars:
    """The bars of the last ``minutes`` minutes, by (task id, attempt)."""

    minutes: int = DEFAULT_MINUTES
    bars: dict[Key, TimelineBar] = field(default_factory=dict)
    read_until: datetime | None = None
    truncated: bool = False

    def start(self, now: datetime) -> datetime:
        return now - timedelta(minutes=self.minutes)

    def load(self, client: AgencyClient, now: datetime | None = None) -> None:
        """Read the whole window again (first load, or another window picked)."""
        now = now or datetime.now(UTC)
        got = client.worker_timeline(since=self.start(now), until=now, limit=LIMIT)
        self.bars = {(b.task_id, b.attempt): b for b in got.items}
        self.truncated = got.truncated
        self.read_until = now

    def update(self, client: AgencyClient, now: datetime | None = None) -> None:
        """Merge the bars that changed since the last read; drop those out of the window."""
        now = now or datetime.now(UTC)
        if self.read_until is None:
            self.load(client, now)
            return
        since = max(self.start(now), self.read_until - OVERLAP)
        got = client.worker_timeline(since=since, until=now, limit=LIMIT)
        fresh = {(b.task_id, b.attempt): b for b in got.items}
        # a bar in flight at the last read and absent now never became an attempt (a refused
        # dispatch): the answer holds every bar still in flight, and every one that ended
        for key in [k for k, b in self.bars.items() if b.finished_at is None and k not in fresh]:
            del self.bars[key]
        self.bars.update(fresh)
        start = self.start(now)
        for key in [k for k, b in self.bars.items() if b.finished_at is not None and b.finished_at < start]:
            del self.bars[key]
        if len(self.bars) > LIMIT:
            keep = sorted(self.bars.items(), key=lambda kv: kv[1].started_at)[-LIMIT:]
            self.bars, self.truncated = dict(keep), True
        self.read_until = now

    def frame(self, now: datetime | None = None) -> pd.DataFrame:
        """The bars in display form, oldest first (see ``timeline.fleet_frame``)."""
        items = sorted(self.bars.values(), key=lambda b: (b.started_at, b.task_id, b.attempt))
        return fleet_frame(items, now or datetime.now(UTC))

    def workers(self) -> list[str]:
        """The rows of the chart: every worker with a bar, by id."""
        return sorted({b.worker_id for b in self.bars.values()})
