"""KPIs over rolling windows (1 and 5 minutes), and their Prometheus export.

Everything is kept in memory and updated as tasks change state. Each second gets a slot
(outcome counts, and queue and run times as log-scale histograms), and each window keeps
running totals: a sample is added to them as it comes, a second is subtracted as it leaves
the window. So a snapshot costs the same at 10 tasks/s as at 2,000 (sorting every sample of
five minutes took ~100 ms per second at 1,200 tasks/s), and a percentile is read off the
histogram: within 2.5% of the exact one.
"""

from __future__ import annotations

import math
import time
from collections import Counter as Tally
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from agency.models import TaskState, WorkerHealth, WorkerInfo

WINDOWS = {"1m": 60.0, "5m": 300.0}
_BASE_MS = 0.01  # bucket 0 holds every time below this
_GROWTH = 1.05  # each bucket 5% wider than the one before: its middle is within 2.5%
_BUCKETS = 480  # the last one starts at 0.01 ms * 1.05**478, about 37 hours
_LOG_GROWTH = math.log(_GROWTH)


def bucket_of(ms: float) -> int:
    """The histogram bucket of a time in milliseconds."""
    if ms < _BASE_MS:
        return 0
    return min(_BUCKETS - 1, 1 + int(math.log(ms / _BASE_MS) / _LOG_GROWTH))


def bucket_value(bucket: int) -> float:
    """The time a bucket stands for: the geometric middle of its range (0 for bucket 0)."""
    if bucket == 0:
        return 0.0
    return _BASE_MS * _GROWTH ** (bucket - 1) * math.sqrt(_GROWTH)


@dataclass
class _Second:
    """What happened in one second: outcomes and the times recorded in it (by bucket)."""

    ts: int
    finished: int = 0
    succeeded: int = 0
    failed: int = 0
    queue: Tally[int] = field(default_factory=Tally)
    run: Tally[int] = field(default_factory=Tally)


class TimeHistogram:
    """Counts per bucket, with the total, for percentiles."""

    def __init__(self) -> None:
        self.counts = [0] * _BUCKETS
        self.n = 0

    def add(self, buckets: Tally[int], sign: int) -> None:
        for b, c in buckets.items():
            self.counts[b] += sign * c
            self.n += sign * c

    def percentile(self, q: float) -> float | None:
        """Nearest-rank percentile (``None`` when empty), as its bucket's middle."""
        if self.n <= 0:
            return None
        rank = max(0, min(self.n - 1, round(q * (self.n - 1))))
        seen = 0
        for b, c in enumerate(self.counts):
            seen += c
            if seen > rank:
                return bucket_value(b)
        return bucket_value(_BUCKETS - 1)


class _Window:
    """Running totals over the seconds of one window."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.slots: deque[_Second] = deque()
        self.finished = self.succeeded = self.failed = 0
        self.queue = TimeHistogram()
        self.run = TimeHistogram()

    def expire(self, now: float) -> None:
        while self.slots and self.slots[0].ts < now - self.seconds:
            old = self.slots.popleft()
            self.finished -= old.finished
            self.succeeded -= old.succeeded
            self.failed -= old.failed
            self.queue.add(old.queue, -1)
            self.run.add(old.run, -1)


class Kpis:
    """Rolling KPI windows plus the Prometheus metrics of the orchestrator."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._windows = {name: _Window(seconds) for name, seconds in WINDOWS.items()}
        self._now: _Second | None = None
        self.by_state: Tally[str] = Tally()
        self.tasks = Gauge("agency_tasks", "Tasks by state.", ["state"], registry=registry)
        self.finished = Counter(
            "agency_tasks_finished",
            "Tasks that reached a terminal state.",
            ["state"],
            registry=registry,
        )
        self.dispatch_latency = Histogram(
            "agency_dispatch_latency_seconds",
            "Seconds from queued to dispatched.",
            buckets=(
                0.001,
                0.0025,
                0.005,
                0.01,
                0.025,
                0.05,
                0.1,
                0.25,
                0.5,
                1,
                2.5,
                5,
                10,
                30,
                60,
            ),
            registry=registry,
        )
        self.run_time = Histogram(
            "agency_run_seconds",
            "Seconds from dispatched to finished.",
            buckets=(0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 60, 300, 1800, 3600),
            registry=registry,
        )
        self.retries = Counter(
            "agency_task_retries", "Automatic and operator retries.", registry=registry
        )
        self.workers = Gauge(
            "agency_workers", "Registered workers by health.", ["health"], registry=registry
        )
        self.breakers = Gauge(
            "agency_worker_breakers",
            "Worker circuit breakers by state.",
            ["state"],
            registry=registry,
        )
        for state in TaskState:
            self.tasks.labels(state.value).set(0)

    # --- updates -------------------------------------------------------------------------

    def load_counts(self, counts: dict[str, int]) -> None:
        self.by_state = Tally({k: int(v) for k, v in counts.items() if v})
        for state in TaskState:
            self.tasks.labels(state.value).set(self.by_state.get(state.value, 0))

    def moved(self, src: TaskState | None, dst: TaskState) -> None:
        """Count a state change (``src`` None for a new task)."""
        if src is not None:
            self.by_state[src.value] -= 1
            self.tasks.labels(src.value).set(self.by_state[src.value])
        self.by_state[dst.value] += 1
        self.tasks.labels(dst.value).set(self.by_state[dst.value])

    def dispatched(self, queued_s: float) -> None:
        b = bucket_of(queued_s * 1000)
        self._second().queue[b] += 1
        for w in self._windows.values():
            w.queue.counts[b] += 1
            w.queue.n += 1
        self.dispatch_latency.observe(max(0.0, queued_s))

    def finished_task(self, state: TaskState, run_s: float | None) -> None:
        # a cancel is an operator's decision: it counts towards throughput, but is neither
        # a success nor a failure of the work
        sec = self._second()
        ok = None if state is TaskState.CANCELED else state is TaskState.SUCCEEDED
        sec.finished += 1
        sec.succeeded += ok is True
        sec.failed += ok is False
        for w in self._windows.values():
            w.finished += 1
            w.succeeded += ok is True
            w.failed += ok is False
        self.finished.labels(state.value).inc()
        if run_s is not None:
            b = bucket_of(run_s * 1000)
            sec.run[b] += 1
            for w in self._windows.values():
                w.run.counts[b] += 1
                w.run.n += 1
            self.run_time.observe(max(0.0, run_s))

    def _second(self) -> _Second:
        """This second's slot (a new one, in every window, when the second changed)."""
        now = int(time.time())
        if self._now is None or self._now.ts != now:
            self._now = _Second(now)
            for w in self._windows.values():
                w.expire(now)  # also when nobody reads: a window holds its seconds only
                w.slots.append(self._now)
        return self._now

    def fleet(self, workers: Iterable[WorkerInfo]) -> tuple[int, int]:
        """Refresh the worker gauges; returns (active workers, open breakers)."""
        health: Tally[str] = Tally()
        breakers: Tally[str] = Tally()
        for w in workers:
            health[w.health.value] += 1
            breakers[w.breaker] += 1
        for h in WorkerHealth:
            self.workers.labels(h.value).set(health.get(h.value, 0))
        for b in ("closed", "open", "half-open"):
            self.breakers.labels(b).set(breakers.get(b, 0))
        return health.get(WorkerHealth.HEALTHY.value, 0), breakers.get("open", 0)

    # --- reads ---------------------------------------------------------------------------

    def _window(self, seconds: float) -> _Window:
        for w in self._windows.values():
            if w.seconds == seconds:
                w.expire(time.time())
                return w
        raise ValueError(f"no KPI window of {seconds} s (there are {sorted(WINDOWS.values())})")

    def failure_rate(self, window_s: float = 300.0) -> tuple[float | None, int]:
        """Share of failed outcomes over the window, and how many outcomes it counts."""
        w = self._window(window_s)
        counted = w.succeeded + w.failed
        if not counted:
            return None, 0
        return w.failed / counted, counted

    def window(self, seconds: float) -> dict[str, float | None]:
        w = self._window(seconds)
        counted = w.succeeded + w.failed
        return {
            "tasks_per_min": w.finished * 60.0 / seconds,
            "success_rate": w.succeeded / counted if counted else None,
            "queue_p50_ms": w.queue.percentile(0.5),
            "queue_p95_ms": w.queue.percentile(0.95),
            "run_p50_ms": w.run.percentile(0.5),
            "run_p95_ms": w.run.percentile(0.95),
        }
