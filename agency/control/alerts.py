"""Alerts the orchestrator raises: a breaker opened, a worker went silent, failures spike.

An alert is raised once per *episode*: the key (kind + resource) stays open until the
condition clears (the breaker closes, the worker heartbeats again, the failure rate falls
back), so a flapping condition does not write one alert per task. Each alert is an
``Alert`` row plus an ``alert.opened`` event, written together.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Literal

from agency.models import Alert, EventIn, new_id
from agency.storage import Insert, Store

log = logging.getLogger("agency.orchestrator")

Severity = Literal["info", "warning", "critical"]

#: fewest outcomes in the window before a failure rate counts (3 failures of 4 is no trend)
MIN_OUTCOMES = 10


class Alerts:
    """Opens alerts once per episode; ``clear`` ends an episode."""

    def __init__(
        self, store: Store, failure_rate: Callable[[float], tuple[float | None, int]]
    ) -> None:
        self.store = store
        self.failure_rate = failure_rate
        self._open: set[str] = set()

    def is_open(self, key: str) -> bool:
        return key in self._open

    async def raise_once(
        self,
        kind: str,
        message: str,
        *,
        resource_type: str = "",
        resource_id: str = "",
        severity: Severity = "warning",
    ) -> Alert | None:
        """Write the alert unless its episode is already open; returns it when written."""
        key = f"{kind}:{resource_type}:{resource_id}"
        if key in self._open:
            return None
        self._open.add(key)
        alert = Alert(
            id=new_id(),
            kind=kind,
            severity=severity,
            message=message,
            resource_type=resource_type,
            resource_id=resource_id,
        )
        ev = EventIn(
            actor="system",
            action="alert.opened",
            resource_type="alert",
            resource_id=alert.id,
            details={
                "kind": kind,
                "message": message,
                "severity": severity,
                "resource_type": resource_type,
                "resource_id": resource_id,
            },
        )
        log.warning("alert %s: %s", kind, message)
        await self.store.write(Insert("alerts", [alert.model_dump(mode="python")]), ev)
        return alert

    def clear(self, kind: str, *, resource_type: str = "", resource_id: str = "") -> None:
        """The condition is over: the next occurrence opens a new alert."""
        self._open.discard(f"{kind}:{resource_type}:{resource_id}")

    async def check_failure_rate(self, threshold: float) -> None:
        """Raise ``failure-rate`` when failures over 5 minutes pass ``threshold``."""
        rate, n = self.failure_rate(300.0)
        if rate is None or n < MIN_OUTCOMES:
            return
        if rate > threshold:
            await self.raise_once(
                "failure-rate",
                f"{rate:.0%} of the last {n} tasks failed (5 minutes; threshold {threshold:.0%})",
                severity="critical",
            )
        else:
            self.clear("failure-rate")
