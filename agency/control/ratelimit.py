"""The per-token rate limit: a token bucket per API token."""

from __future__ import annotations

import time
from collections.abc import Callable

from agency.errors import RateLimited


class RateLimiter:
    """Token bucket per API token: ``rate`` requests/s sustained, bursts of twice that."""

    def __init__(self, rate: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = 2.0 * rate
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}

    def charge(self, key: str) -> None:
        """Take one request from ``key``'s bucket; ``RateLimited`` when it is empty."""
        now = self._clock()
        level, last = self._buckets.get(key, (self.burst, now))
        level = min(self.burst, level + (now - last) * self.rate)
        if level < 1.0:
            self._buckets[key] = (level, now)
            raise RateLimited(
                f"rate limit of {self.rate:g} requests/s exceeded",
                retry_after=round((1.0 - level) / self.rate, 3),
            )
        self._buckets[key] = (level - 1.0, now)
