"""The one time range the pages share: a preset span read by the Tasks list, the Audit trail
and the Overview's charts.

A browser session has one ``TimeRange`` (``Context.range``); the header's picker sets it and
the address keeps it (``?range=1h``), so a deep link opens with the same range and a change
on one page is what every other page shows. ``all`` (the default) limits nothing. Pages
``watch`` it to read again when it moves. Panel-free, so data functions and tests use it too.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

#: the presets, in the picker's order: address key -> span (``None``: no limit)
SPANS: dict[str, timedelta | None] = {
    "15m": timedelta(minutes=15),
    "1h": timedelta(hours=1),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "all": None,
}
LABELS = {"15m": "15 min", "1h": "1 h", "24h": "24 h", "7d": "7 d", "all": "all"}
DEFAULT = "all"
PARAM = "range"  # the address parameter: ``?page=audit&range=1h``

Watcher = Callable[[], Awaitable[None] | None]


class TimeRange:
    """The session's time range: a preset key, the instant it starts at, its watchers."""

    def __init__(self, key: str = DEFAULT) -> None:
        self.key = key if key in SPANS else DEFAULT
        self._watchers: list[Watcher] = []

    def load(self, key: str | None) -> None:
        """Take ``key`` from the address the session opened with, before any page reads."""
        self.key = key if key in SPANS else DEFAULT

    def watch(self, callback: Watcher) -> None:
        """Call ``callback`` (a function or a coroutine function) after every change."""
        self._watchers.append(callback)

    async def set(self, key: str | None) -> bool:
        """Make ``key`` the range (unknown or absent: ``all``); whether it changed. The
        watchers run, in order, only on a change."""
        key = key if key in SPANS else DEFAULT
        if key == self.key:
            return False
        self.key = key
        for callback in list(self._watchers):
            result = callback()
            if inspect.isawaitable(result):
                await result
        return True

    @property
    def label(self) -> str:
        return LABELS[self.key]

    def since(self, now: datetime | None = None) -> datetime | None:
        """Where the range starts (``None`` for ``all``)."""
        span = SPANS[self.key]
        return None if span is None else (now or datetime.now(UTC)) - span

    def minutes(self) -> int | None:
        """The span in whole minutes (``None`` for ``all``)."""
        span = SPANS[self.key]
        return None if span is None else int(span.total_seconds() // 60)

    def clamp(self, after: datetime | None, now: datetime | None = None) -> datetime | None:
        """The later of a page's own "after" filter and the range's start."""
        start = self.since(now)
        if after is None or start is None:
            return start if after is None else after
        mine = after if after.tzinfo is not None else after.astimezone()
        return max(mine, start)

    def params(self) -> dict[str, str]:
        """The range as address parameters (none for the default)."""
        return {} if self.key == DEFAULT else {PARAM: self.key}

    def describe(self) -> str:
        """``last 1 h`` / ``all time``: what the pages say they show."""
        return "all time" if self.key == "all" else f"last {self.label}"
