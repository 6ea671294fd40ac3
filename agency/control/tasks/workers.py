"""The fleet as the orchestrator sees it: registration, heartbeats, drain, removal, sweeps.

Worker records are persisted (with an event) whenever their registration or health
changes. Once a second the sweep marks silent workers unhealthy; the in-flight tasks of an
unhealthy, removed or unknown worker are orphaned (after a start-up grace, so restored
workers get the time to heartbeat again) and go through their retry policy. Heartbeats
also reveal attempts that must not run (an orphaned attempt that turns out alive, a task
that is no longer this worker's): those are canceled on the worker.
"""

from __future__ import annotations

import asyncio
import logging
import time

from agency.control.alerts import AlertService
from agency.control.refusals import Refusals, without_userinfo
from agency.control.tasks.book import Book
from agency.control.tasks.outcomes import Outcomes
from agency.errors import AgencyError, HostNotAllowed, NotFound, WorkerTLSRefused
from agency.fleet import Registry
from agency.fleet.registry import MISSED_HEARTBEATS
from agency.models import EventIn, WorkerHealth, WorkerHeartbeat, WorkerInfo, WorkerRegistration
from agency.settings import Settings

log = logging.getLogger("agency.orchestrator")


class FleetWatch:
    """Keeps worker records, health-driven orphaning and stray cancels."""

    def __init__(
        self,
        book: Book,
        registry: Registry,
        outcomes: Outcomes,
        alerts: AlertService,
        settings: Settings,
        sending: set[str],
        refusals: Refusals,
    ) -> None:
        self.book = book
        self.refusals = refusals
        self.registry = registry
        self.outcomes = outcomes
        self.alerts = alerts
        self.settings = settings
        self.sending = sending
        self.started = time.monotonic()
        self._breakers: dict[str, str] = {}
        self._probing, self._probed = False, 0.0
        self._jobs: set[asyncio.Task[None]] = set()

    @property
    def grace_over(self) -> bool:
        """Whether restored workers had the time to heartbeat since the orchestrator started."""
        return (
            time.monotonic() - self.started > MISSED_HEARTBEATS * self.settings.heartbeat_interval
        )

    async def _save(self, info: WorkerInfo, action: str, actor: str, **details: object) -> None:
        ev = EventIn(
            actor=actor,
            action=f"worker.{action}",
            resource_type="worker",
            resource_id=info.id,
            details={"health": info.health.value, "url": info.url, **details},
        )
        await self.book.repos.workers.save(info, ev)

    async def register(
        self, reg: WorkerRegistration, actor: str, address: str | None = None
    ) -> WorkerInfo:
        try:
            info = await self.registry.register(reg)
        except HostNotAllowed as exc:
            # a worker retries its registration: one event per worker and address per interval
            self.refusals.refuse(
                "worker.registration_refused",
                actor=actor,
                resource_type="worker",
                resource_id=reg.id,
                address=address,
                reason=exc.message,
                key=(reg.id, address),
                code=exc.code,
                url=without_userinfo(reg.url),
            )
            raise
        except WorkerTLSRefused as exc:
            await self.book.repos.events.append(
                EventIn(
                    actor=actor,
                    action="worker.refused",
                    resource_type="worker",
                    resource_id=reg.id,
                    details={
                        "url": without_userinfo(reg.url),
                        "reason": exc.message,
                        "code": exc.code,
                        "address": address,
                    },
                )
            )
            raise
        tls = info.tls.model_dump(exclude_none=True) if info.tls else None
        await self._save(
            info,
            "registered",
            actor,
            kinds=info.kinds,
            capacity=info.capacity,
            labels=info.labels,
            protocol=info.protocol,
            tls=tls,
        )
        self.alerts.clear("worker-silent", resource_type="worker", resource_id=info.id)
        self.alerts.clear("worker-refuses", resource_type="worker", resource_id=info.id)
        self.book.wake.set()
        return info

    async def heartbeat(self, hb: WorkerHeartbeat) -> WorkerInfo:
        before = self._health(hb.id)
        info = await self.registry.heartbeat(hb)
        if info.health != before:
            await self._save(
                info, info.health.value, hb.id, previous=before.value if before else None
            )
            self.alerts.clear("worker-silent", resource_type="worker", resource_id=info.id)
            self.book.wake.set()
        self._check_running(hb.id, hb.running)
        return info

    def _health(self, worker_id: str) -> WorkerHealth | None:
        try:
            return self.registry.get(worker_id).health
        except NotFound:
            return None

    def _check_running(self, worker_id: str, running: list[str]) -> None:
        """Cancel attempts the worker runs but must not; poll ours it no longer runs."""
        listed = set(running)
        for task_id in listed:
            task = self.book.get(task_id)
            ours = task is not None and task.state.in_flight and task.worker_id == worker_id
            stray = (worker_id, task_id) in self.outcomes.strays or (task is not None and not ours)
            if stray and task_id not in self.sending:
                self._spawn(self._cancel_stray(worker_id, task_id))
        self.outcomes.strays -= {
            (w, t) for (w, t) in self.outcomes.strays if w == worker_id and t not in listed
        }
        for task in self.book.in_flight_on(worker_id):
            if task.id not in listed and task.id not in self.sending:
                self.book.flying[task.id] = 0.0  # the poll fallback asks about it next tick

    async def _cancel_stray(self, worker_id: str, task_id: str) -> None:
        try:
            await self.registry.client(worker_id).cancel(task_id)
            log.warning("canceled stray attempt of %s on %s", task_id, worker_id)
            await self.book.repos.events.append(
                EventIn(
                    actor="system",
                    action="task.stray_canceled",
                    resource_type="task_attempt",
                    resource_id=task_id,
                    details={"worker_id": worker_id},
                )
            )
        except AgencyError as exc:
            log.warning("stray attempt of %s on %s not canceled: %s", task_id, worker_id, exc)

    async def refused(self, info: WorkerInfo) -> None:
        """A worker refuses the control plane's calls (401/403): stored, alerted, one line."""
        await self._save(info, "unhealthy", "system", reason=info.health_reason)
        await self.alerts.raise_once(
            "worker-refuses",
            f"worker {info.id} {info.health_reason}",
            resource_type="worker",
            resource_id=info.id,
        )

    async def drain(self, worker_id: str, actor: str, reason: str | None) -> WorkerInfo:
        info = await self.registry.drain(worker_id)
        await self._save(info, "drained", actor, reason=reason)
        return info

    async def remove(self, worker_id: str, actor: str, reason: str | None) -> WorkerInfo:
        info = await self.registry.remove(worker_id)
        await self._save(info, "removed", actor, reason=reason)
        for task in self.book.in_flight_on(worker_id):
            await self.outcomes.orphan(task, f"worker {worker_id} removed by {actor}")
        return info

    async def sweep(self) -> None:
        """One round: health, breakers, orphaning, failure rate (every second)."""
        for info in await self.registry.sweep():
            await self._save(info, "unhealthy", "system", reason="missed heartbeats")
            await self.alerts.raise_once(
                "worker-silent",
                f"worker {info.id} missed {MISSED_HEARTBEATS} heartbeats",
                resource_type="worker",
                resource_id=info.id,
            )
        workers = {w.id: w for w in self.registry.list()}
        for w in workers.values():
            was = self._breakers.get(w.id, "closed")
            self._breakers[w.id] = w.breaker
            if w.breaker == "open" and was != "open":
                await self.alerts.raise_once(
                    "breaker-open",
                    f"circuit breaker of worker {w.id} opened after "
                    f"{w.recent_failures} consecutive failures",
                    resource_type="worker",
                    resource_id=w.id,
                )
            elif w.breaker == "closed" and was != "closed":
                self.alerts.clear("breaker-open", resource_type="worker", resource_id=w.id)
                self.book.wake.set()
        self.book.kpis.fleet(workers.values())
        self._probe_agents()
        await self._orphan_ownerless(workers)
        await self.alerts.check_failure_rate(self.settings.failure_rate_alert)

    async def _orphan_ownerless(self, workers: dict[str, WorkerInfo]) -> None:
        if not self.grace_over:
            return
        for task_id in list(self.book.flying):
            task = self.book.get(task_id)
            if task is None or task_id in self.sending or task.worker_id is None:
                continue
            worker = workers.get(task.worker_id)
            if worker is None:
                await self.outcomes.orphan(task, f"worker {task.worker_id} is unknown")
            elif worker.health in (WorkerHealth.UNHEALTHY, WorkerHealth.REMOVED):
                await self.outcomes.orphan(
                    task, f"worker {task.worker_id} is {worker.health.value}"
                )

    def _probe_agents(self) -> None:
        """Start a poll of the remote agents' /status, at most one at a time, once per
        heartbeat interval (a slow agent must not hold up the sweep)."""
        now = time.monotonic()
        if self._probing or now - self._probed < self.settings.heartbeat_interval:
            return
        if not any(w.protocol == "agency-agent" for w in self.registry.list()):
            return
        self._probing, self._probed = True, now
        self._spawn(self._probe())

    async def _probe(self) -> None:
        try:
            for info in await self.registry.probe_agents():
                await self._save(info, info.health.value, "system", reason="agent /status")
                self.alerts.clear("worker-silent", resource_type="worker", resource_id=info.id)
            self.book.wake.set()  # an agent that was busy may be idle now
        finally:
            self._probing = False

    def _spawn(self, coro: object) -> None:
        job = asyncio.ensure_future(coro)  # type: ignore[call-overload]
        self._jobs.add(job)
        job.add_done_callback(self._jobs.discard)

    async def stop(self) -> None:
        for job in list(self._jobs):
            job.cancel()
        await asyncio.gather(*self._jobs, return_exceptions=True)
