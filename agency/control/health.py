"""The control plane's health: the orchestrator, the database and the workers, each with a
status and, when it is not healthy, the reason; the overall status is the worst of them.

The database is checked by a background task every ``DATABASE_INTERVAL`` seconds, not by
each ``GET /health``: a probe then costs no DuckDB round trip (it was most of the request),
and an answer is never older than the interval. A check that hangs shows as unhealthy once
it is overdue by the timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from agency.control.tasks import Orchestrator
from agency.models import WorkerHealth, utcnow
from agency.settings import Settings
from agency.storage import Repositories

Status = Literal["healthy", "degraded", "unhealthy"]
RANK: dict[str, int] = {"healthy": 0, "degraded": 1, "unhealthy": 2}
DATABASE_TIMEOUT = 2.0
#: seconds between two background checks of the database
DATABASE_INTERVAL = 1.0


@dataclass(frozen=True)
class Component:
    """One part's health."""

    status: Status
    reason: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


def worst(components: dict[str, Component]) -> Status:
    return max((c.status for c in components.values()), key=RANK.__getitem__)


class HealthService:
    """Checks the parts of one running control plane."""

    def __init__(
        self, settings: Settings, repos: Repositories, tasks: Orchestrator, started_at: datetime
    ) -> None:
        self.settings = settings
        self.repos = repos
        self.tasks = tasks
        self.started_at = started_at
        self._database: Component | None = None
        self._checked_at = 0.0  # time.monotonic() of the last finished database check
        self._watcher: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start checking the database in the background (on the running loop)."""
        if self._watcher is None:
            self._watcher = asyncio.get_running_loop().create_task(
                self._watch(), name="agency-health-database"
            )

    async def close(self) -> None:
        """Stop the background check."""
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
            self._watcher = None

    async def _watch(self) -> None:
        while True:
            await self.check_database()
            await asyncio.sleep(DATABASE_INTERVAL)

    async def check_database(self) -> Component:
        """Check the database now; the answer is what ``components`` reports until the next."""
        self._database = await self._ping_database()
        self._checked_at = time.monotonic()
        return self._database

    @property
    def uptime_s(self) -> float:
        return (utcnow() - self.started_at).total_seconds()

    async def components(self) -> dict[str, Component]:
        """Every part's health: the orchestrator and workers now, the database as last checked
        (checked now when no background check has answered yet)."""
        return {
            "orchestrator": self._orchestrator(),
            "database": await self._database_now(),
            "workers": self._workers(),
        }

    async def _database_now(self) -> Component:
        if self._database is None or self._watcher is None:
            return await self.check_database()
        if time.monotonic() - self._checked_at > DATABASE_INTERVAL + DATABASE_TIMEOUT:
            return Component(
                status="unhealthy", reason=f"database did not answer within {DATABASE_TIMEOUT:g} s"
            )
        return self._database

    async def _ping_database(self) -> Component:
        try:
            await asyncio.wait_for(self.repos.ping(), timeout=DATABASE_TIMEOUT)
        except TimeoutError:
            return Component(
                status="unhealthy", reason=f"database did not answer within {DATABASE_TIMEOUT:g} s"
            )
        except Exception as exc:  # any failure is the answer here, not an error of /health
            return Component(status="unhealthy", reason=f"database: {exc}")
        return Component(status="healthy", details={"path": str(self.settings.database_path)})

    def _orchestrator(self) -> Component:
        try:
            raw: dict[str, Any] = dict(self.tasks.health())
        except Exception as exc:
            return Component(status="unhealthy", reason=f"orchestrator: {exc}")
        status = raw.pop("status", "healthy")
        reason = raw.pop("reason", None)
        if status not in RANK:
            status, reason = "degraded", f"unknown orchestrator status {status!r}"
        return Component(status=status, reason=reason, details=raw)

    def _workers(self) -> Component:
        workers = [w for w in self.tasks.workers() if w.health is not WorkerHealth.REMOVED]
        healthy = [w for w in workers if w.health is WorkerHealth.HEALTHY and w.breaker == "closed"]
        details = {
            "registered": len(workers),
            "healthy": len(healthy),
            "capacity": sum(w.capacity for w in healthy),
        }
        if not workers:
            return Component(
                status="degraded", reason="no worker registered: tasks wait", details=details
            )
        if not healthy:
            return Component(
                status="degraded", reason="no healthy worker: tasks wait", details=details
            )
        if len(healthy) < len(workers):
            bad = sorted(w.id for w in workers if w not in healthy)
            return Component(
                status="degraded",
                reason=f"unhealthy, draining or breaker open: {', '.join(bad)}",
                details=details,
            )
        return Component(status="healthy", details=details)
