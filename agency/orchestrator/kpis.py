"""KPIs over rolling windows (1 and 5 minutes), and their Prometheus export.

Everything is kept in memory and updated as tasks change state; ``snapshot()`` is cheap
enough to serve the API's SSE stream every second. Outcomes are counted in one-second
buckets; queue and run times keep the most recent samples (bounded) with their time.
"""

from __future__ import annotations

import time
from collections import Counter as Tally
from collections import deque
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from agency.models import TaskState, WorkerHealth, WorkerInfo

WINDOWS = {"1m": 60.0, "5m": 300.0}
_MAX_SAMPLES = 50_000  # per series: bounds memory and the cost of a percentile


def percentile(sorted_values: list[float], q: float) -> float | None:
    """Nearest-rank percentile of already sorted values; ``None`` when empty."""
    if not sorted_values:
        return None
    rank = max(0, min(len(sorted_values) - 1, round(q * (len(sorted_values) - 1))))
    return sorted_values[rank]


class Kpis:
    """Rolling KPI windows plus the Prometheus metrics of the orchestrator."""

    def __init__(self, registry: CollectorRegistry) -> None:
        # (second, succeeded) of finishes; None for a cancel, an operator's decision that counts
        # towards throughput but is neither a success nor a failure of the work
        self._outcomes: deque[tuple[int, bool | None]] = deque()
        self._queue_ms: deque[tuple[float, float]] = deque(maxlen=_MAX_SAMPLES)
        self._run_ms: deque[tuple[float, float]] = deque(maxlen=_MAX_SAMPLES)
        self.by_state: Tally[str] = Tally()
        self.tasks = Gauge("agency_tasks", "Tasks by state.", ["state"], registry=registry)
        self.finished = Counter(
            "agency_tasks_finished", "Tasks that reached a terminal state.", ["state"], registry=registry
        )
        self.dispatch_latency = Histogram(
            "agency_dispatch_latency_seconds",
            "Seconds from queued to dispatched.",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
            registry=registry,
        )
        self.run_time = Histogram(
            "agency_run_seconds",
            "Seconds from dispatched to finished.",
            buckets=(0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 60, 300, 1800, 3600),
            registry=registry,
        )
        self.retries = Counter("agency_task_retries", "Automatic and operator retries.", registry=registry)
        self.workers = Gauge("agency_workers", "Registered workers by health.", ["health"], registry=registry)
        self.breakers = Gauge(
            "agency_worker_breakers", "Worker circuit breakers by state.", ["state"], registry=registry
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
        self._queue_ms.append((time.time(), queued_s * 1000))
        self.dispatch_latency.observe(max(0.0, queued_s))

    def finished_task(self, state: TaskState, run_s: float | None) -> None:
        ok = None if state is TaskState.CANCELED else state is TaskState.SUCCEEDED
        self._outcomes.append((int(time.time()), ok))
        self.finished.labels(state.value).inc()
        if run_s is not None:
            self._run_ms.append((time.time(), run_s * 1000))
            self.run_time.observe(max(0.0, run_s))

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

    def _trim(self, now: float) -> None:
        horizon = now - max(WINDOWS.values())
        while self._outcomes and self._outcomes[0][0] < horizon:
            self._outcomes.popleft()
        for series in (self._queue_ms, self._run_ms):
            while series and series[0][0] < horizon:
                series.popleft()

    def failure_rate(self, window_s: float = 300.0) -> tuple[float | None, int]:
        """Share of failed outcomes over the window, and how many outcomes it counts."""
        now = time.time()
        self._trim(now)
        outcomes = [ok for ts, ok in self._outcomes if ts >= now - window_s and ok is not None]
        if not outcomes:
            return None, 0
        return 1 - sum(outcomes) / len(outcomes), len(outcomes)

    def window(self, seconds: float) -> dict[str, float | None]:
        now = time.time()
        self._trim(now)
        finished = [ok for ts, ok in self._outcomes if ts >= now - seconds]
        outcomes = [ok for ok in finished if ok is not None]
        queue = sorted(v for ts, v in self._queue_ms if ts >= now - seconds)
        run = sorted(v for ts, v in self._run_ms if ts >= now - seconds)
        return {
            "tasks_per_min": len(finished) * 60.0 / seconds,
            "success_rate": (sum(outcomes) / len(outcomes)) if outcomes else None,
            "queue_p50_ms": percentile(queue, 0.5),
            "queue_p95_ms": percentile(queue, 0.95),
            "run_p50_ms": percentile(run, 0.5),
            "run_p95_ms": percentile(run, 0.95),
        }
