"""Alerts in one place: raised by the control plane, acknowledged or dismissed by people.

The orchestrator raises an alert once per *episode* (a breaker opened, a worker went silent,
the failure rate crossed ``AGENCY_FAILURE_RATE_ALERT``): the key (kind + resource) stays
open until the condition clears (the breaker closes, the worker heartbeats again, the
failure rate falls back), so a flapping condition does not write one alert per task. Each
alert is an ``Alert`` row plus an ``alert.opened`` event, written together.

People move alerts open -> acknowledged -> dismissed, each move an event with its actor.
Repeating a move is a no-op; going back is a conflict.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Literal

from agency.errors import Conflict, NotFound
from agency.models import Alert, AlertState, EventIn, new_id, utcnow
from agency.security.masking import SecretMasker
from agency.storage import AlertRepository

log = logging.getLogger("agency.orchestrator")

Severity = Literal["info", "warning", "critical"]
FailureRate = Callable[[float], tuple[float | None, int]]

#: fewest outcomes in the window before a failure rate counts (3 failures of 4 is no trend)
MIN_OUTCOMES = 10

#: the states each move may start from: dismissing works from open too
ALLOWED_FROM: dict[AlertState, frozenset[AlertState]] = {
    AlertState.ACKNOWLEDGED: frozenset({AlertState.OPEN}),
    AlertState.DISMISSED: frozenset({AlertState.OPEN, AlertState.ACKNOWLEDGED}),
}


class AlertService:
    """Opens alerts once per episode (``clear`` ends one) and carries people's moves."""

    def __init__(
        self, repo: AlertRepository, failure_rate: FailureRate, masker: SecretMasker | None = None
    ) -> None:
        self.repo = repo
        #: an operator's reason (ack, dismiss) is masked before it is stored
        self.masker = masker if masker is not None else SecretMasker()
        self.failure_rate = failure_rate
        self._open: set[str] = set()
        # read-check-write of one alert row must not interleave with another move of it
        self._moving = asyncio.Lock()

    # --- raised by the control plane -----------------------------------------------------

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
        await self.repo.insert(alert, ev)
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

    # --- read and moved by people --------------------------------------------------------

    async def find(
        self, state: AlertState | None = None, kind: str | None = None, limit: int = 200
    ) -> list[Alert]:
        """Alerts, newest first."""
        return await self.repo.find(state=state, kind=kind, limit=limit)

    async def get(self, alert_id: str) -> Alert:
        alert = await self.repo.get(alert_id)
        if alert is None:
            raise NotFound(f"no alert {alert_id!r}", details={"alert_id": alert_id})
        return alert

    async def acknowledge(self, alert_id: str, actor: str, reason: str | None = None) -> Alert:
        """Mark an open alert as seen; it stays listed until dismissed."""
        return await self._move(alert_id, AlertState.ACKNOWLEDGED, actor, reason)

    async def dismiss(self, alert_id: str, actor: str, reason: str | None = None) -> Alert:
        """Close an alert (open or acknowledged)."""
        return await self._move(alert_id, AlertState.DISMISSED, actor, reason)

    async def _move(self, alert_id: str, to: AlertState, actor: str, reason: str | None) -> Alert:
        reason = self.masker.optional(reason)
        async with self._moving:
            alert = await self.get(alert_id)
            if alert.state is to:
                return alert
            if alert.state not in ALLOWED_FROM[to]:
                raise Conflict(
                    f"alert {alert_id} is {alert.state.value}; it cannot become {to.value}",
                    details={"alert_id": alert_id, "state": alert.state.value},
                )
            moved = alert.model_copy(
                update={"state": to, "updated_at": utcnow(), "updated_by": actor}
            )
            await self.repo.save(
                moved,
                EventIn(
                    actor=actor,
                    action=f"alert.{to.value}",
                    resource_type="alert",
                    resource_id=alert_id,
                    details={"kind": alert.kind, "from": alert.state.value, "reason": reason},
                ),
            )
        return moved
