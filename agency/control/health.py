"""The control plane's health: the orchestrator, the database and the workers, each with a
status and, when it is not healthy, the reason; the overall status is the worst of them."""

from __future__ import annotations

import asyncio
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

    @property
    def uptime_s(self) -> float:
        return (utcnow() - self.started_at).total_seconds()

    async def components(self) -> dict[str, Component]:
        """Every part's health, checked now."""
        return {
            "orchestrator": self._orchestrator(),
            "database": await self._database(),
            "workers": self._workers(),
        }

    async def _database(self) -> Component:
        try:
            await asyncio.wait_for(self.repos.ping(), timeout=DATABASE_TIMEOUT)
        except TimeoutError:
            return Component(status="unhealthy", reason="database did not answer within 2 s")
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
