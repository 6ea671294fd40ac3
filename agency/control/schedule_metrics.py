"""Prometheus series of the scheduler, on the control plane's registry (``GET /metrics``)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge


class ScheduleMetrics:
    """Fires, skips and lateness per schedule (by name), and the schedules by state."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.fires = Counter(
            "agency_schedule_fires_total",
            "Tasks submitted by schedules (manual triggers included).",
            ["schedule"],
            registry=registry,
        )
        self.skips = Counter(
            "agency_schedule_skips_total",
            "Schedule slots decided without a task, by reason.",
            ["schedule", "reason"],
            registry=registry,
        )
        self.lateness = Gauge(
            "agency_schedule_lateness_seconds",
            "Seconds between a schedule's last fired slot (with its jitter) and its fire.",
            ["schedule"],
            registry=registry,
        )
        self.next_fire = Gauge(
            "agency_schedule_next_fire_timestamp_seconds",
            "When a schedule's next slot is due (Unix time); absent when paused or over.",
            ["schedule"],
            registry=registry,
        )
        self.schedules = Gauge(
            "agency_schedules", "Schedules by state.", ["state"], registry=registry
        )
        self._reasons: dict[str, set[str]] = {}  # the skip series of each schedule

    def fired(self, name: str, lateness: float) -> None:
        self.fires.labels(name).inc()
        self.lateness.labels(name).set(lateness)

    def skipped(self, name: str, reason: str, count: int = 1) -> None:
        if count:
            self.skips.labels(name, reason).inc(count)
            self._reasons.setdefault(name, set()).add(reason)

    def due(self, name: str, at: datetime | None) -> None:
        if at is None:
            self._drop(self.next_fire, name)
        else:
            self.next_fire.labels(name).set(at.timestamp())

    def counted(self, counts: Callable[[], tuple[int, int]]) -> None:
        """Count the schedules by state when scraped: ``counts`` gives (active, paused)."""
        self.schedules.labels("active").set_function(lambda: counts()[0])
        self.schedules.labels("paused").set_function(lambda: counts()[1])

    def forget(self, name: str) -> None:
        """Drop a deleted (or renamed) schedule's series."""
        for metric in (self.fires, self.lateness, self.next_fire):
            self._drop(metric, name)
        for reason in self._reasons.pop(name, set()):
            self.skips.remove(name, reason)

    @staticmethod
    def _drop(metric: Counter | Gauge, name: str) -> None:
        try:
            metric.remove(name)
        except KeyError:
            return
