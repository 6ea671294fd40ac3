"""The worker registry: registration, heartbeats, health, discovery, drain and removal.

The registry lives in the control plane's loop and holds one ``WorkerClient`` per worker.
It keeps its own slot accounting (``reserve``/``release`` by the dispatcher), so discovery
never over-books a worker between heartbeats. Persistence is the caller's: ``on_change`` is
awaited whenever a worker's record changes in a way worth storing (registration, health,
drain, removal), and ``restore`` reloads stored records at start.
"""

from __future__ import annotations

import asyncio
import builtins
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from agency.errors import AgencyError, HostNotAllowed, NotFound, WorkerFull, WorkerTLSRefused
from agency.fleet.agency_agent import AgencyAgentClient
from agency.fleet.client import WorkerClient
from agency.fleet.tls import check_certificate
from agency.models import (
    PROVENANCE_LABELS,
    AgentLink,
    WorkerHealth,
    WorkerHeartbeat,
    WorkerInfo,
    WorkerProtocol,
    WorkerRegistration,
    WorkerTLS,
    utcnow,
)
from agency.security.urlguard import check_url
from agency.settings import Settings

log = logging.getLogger("agency.fleet")

MISSED_HEARTBEATS = 3
OnChange = Callable[[WorkerInfo], Awaitable[None]]


@dataclass
class _Entry:
    info: WorkerInfo
    client: WorkerClient
    seen: float | None  # clock() of the last registration or heartbeat; None: not since start
    reserved: int = 0
    drained: bool = False  # drained by an operator: stays draining whatever heartbeats say
    reported_running: list[str] = field(default_factory=list)
    secret: str | None = None  # the worker's bearer for calls to it (from its registration)
    restored: bool = False  # reloaded at start: its secret is unknown until it registers
    refused: str | None = None  # why it stays unhealthy: it refuses our credential


def check_worker_url(url: str, allowed: frozenset[str]) -> str:
    """The normalized worker URL; ``HostNotAllowed`` unless http(s) with an allowed host.

    The rules are the SSRF guard's (``agency.security.urlguard.check_url``): no userinfo,
    canonical IP literals only, IDNA-normalized names, CIDR allowlist entries.
    """
    return check_url(url, allowed)


class Registry:
    """Every worker the control plane knows, with a resilient client for each."""

    def __init__(
        self,
        settings: Settings,
        *,
        on_change: OnChange | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings
        self._on_change = on_change
        self._clock = clock
        self._entries: dict[str, _Entry] = {}
        #: awaited with each remote agent's new task id (the orchestrator stores it)
        self.on_agent_link: Callable[[AgentLink], Awaitable[None]] | None = None

    # --- registration and heartbeats ----------------------------------------------------

    async def register(self, reg: WorkerRegistration) -> WorkerInfo:
        """Add or refresh a worker; ``HostNotAllowed`` when its URL is outside the allowlist."""
        try:
            url = check_worker_url(reg.url, self._settings.allowed_host_set)
        except HostNotAllowed as exc:
            log.warning(
                "worker registration refused worker=%s url=%r: %s",
                reg.id,
                reg.url,
                exc.message,
                extra={"worker": reg.id, "url": reg.url, "outcome": "host_not_allowed"},
            )
            raise
        # from here on only the checked, normalized form is used to reach the worker
        reg = reg.model_copy(update={"url": url})
        try:
            await check_certificate(url, reg.tls, self._settings.request_timeout)
        except WorkerTLSRefused as exc:
            log.warning(
                "worker registration refused worker=%s url=%r: %s",
                reg.id,
                reg.url,
                exc.message,
                extra={"worker": reg.id, "url": reg.url, "outcome": "worker_tls_refused"},
            )
            raise
        entry = self._entries.get(reg.id)
        if entry is not None and (
            entry.client.base_url != reg.url.rstrip("/")
            or entry.info.protocol != reg.protocol
            or entry.client.tls != reg.tls
        ):
            await entry.client.aclose()  # the worker moved: its old connections are useless
            entry = None
        info = WorkerInfo(
            id=reg.id,
            url=reg.url,
            kinds=list(reg.kinds),
            capacity=reg.capacity,
            labels=dict(reg.labels),
            version=reg.version,
            last_heartbeat=utcnow(),
            protocol=reg.protocol,
            tls=reg.tls,
        )
        if entry is None:
            client = self._new_client(reg.id, reg.url, reg.protocol, reg.tls, reg.secret)
            entry = _Entry(info=info, client=client, seen=self._clock(), secret=reg.secret)
            self._entries[reg.id] = entry
        else:
            info.registered_at = entry.info.registered_at
            entry.info, entry.seen = info, self._clock()
            if entry.secret != reg.secret:  # a restarted worker brings a new credential
                entry.secret = reg.secret
                entry.client.use_token(self._token(reg.secret))
            entry.restored, entry.refused = False, None
        if entry.drained:
            entry.info.health = WorkerHealth.DRAINING
        log.info(
            "worker registered worker=%s url=%s kinds=%s capacity=%d",
            reg.id,
            reg.url,
            ",".join(reg.kinds),
            reg.capacity,
        )
        await self._changed(entry)
        return self._view(entry)

    async def heartbeat(self, hb: WorkerHeartbeat) -> WorkerInfo:
        """Record a heartbeat; an unhealthy worker becomes healthy (or draining) again."""
        entry = self._entry(hb.id)
        entry.seen = self._clock()
        entry.info.last_heartbeat = utcnow()
        entry.reported_running = list(hb.running)
        health = WorkerHealth.DRAINING if (hb.draining or entry.drained) else WorkerHealth.HEALTHY
        if entry.refused is not None:
            health = (
                WorkerHealth.UNHEALTHY
            )  # alive, but it refuses us: no work until it re-registers
        else:
            entry.info.health_reason = None
        if health != entry.info.health:
            log.info(
                "worker health worker=%s %s -> %s", hb.id, entry.info.health.value, health.value
            )
            entry.info.health = health
            await self._changed(entry)
        view = self._view(entry)
        view.register_again = entry.restored
        return view

    def refuse(self, worker_id: str, reason: str) -> WorkerInfo | None:
        """The worker refused our credential: unhealthy with ``reason`` until it registers again.

        Returns the record when this changed its health (the caller stores it and alerts),
        None when the worker is unknown or already marked.
        """
        entry = self._entries.get(worker_id)
        if entry is None or entry.refused is not None:
            return None
        entry.refused = reason
        entry.info.health = WorkerHealth.UNHEALTHY
        entry.info.health_reason = reason
        log.warning("worker unhealthy worker=%s: %s", worker_id, reason)
        return self._view(entry)

    # --- reading --------------------------------------------------------------------------

    def get(self, worker_id: str) -> WorkerInfo:
        return self._view(self._entry(worker_id))

    def client(self, worker_id: str) -> WorkerClient:
        return self._entry(worker_id).client

    def list(self) -> builtins.list[WorkerInfo]:
        """Every worker, by id, with live breaker state, failures and reserved slots."""
        return [self._view(e) for _, e in sorted(self._entries.items())]

    def reported_running(self, worker_id: str) -> builtins.list[str]:
        """Task ids the worker said it runs in its last heartbeat."""
        return list(self._entry(worker_id).reported_running)

    def candidates(self, kind: str, labels: dict[str, str]) -> builtins.list[WorkerInfo]:
        """Workers that can take a task now, least loaded first.

        Healthy, breaker not refusing, the kind supported, every task label present with the
        same value (task labels are requirements, except the ``PROVENANCE_LABELS`` such as
        ``schedule``), and a free slot by the registry's count.
        """
        fit = [
            e
            for e in self._entries.values()
            if e.info.health == WorkerHealth.HEALTHY
            and e.client.available
            and kind in e.info.kinds
            and all(
                e.info.labels.get(k) == v for k, v in labels.items() if k not in PROVENANCE_LABELS
            )
            and e.reserved < e.info.capacity
        ]
        fit.sort(key=lambda e: (e.reserved / e.info.capacity, -e.info.capacity, e.info.id))
        return [self._view(e) for e in fit]

    # --- slot accounting ------------------------------------------------------------------

    def reserve(self, worker_id: str) -> None:
        """Take one slot of the worker for a dispatch; ``WorkerFull`` when none is free."""
        entry = self._entry(worker_id)
        if entry.reserved >= entry.info.capacity:
            raise WorkerFull(
                f"worker {worker_id} has no free slot",
                details={"worker": worker_id, "capacity": entry.info.capacity},
            )
        entry.reserved += 1

    def release(self, worker_id: str) -> None:
        """Give back a slot (task ended or dispatch failed); unknown workers are ignored."""
        entry = self._entries.get(worker_id)
        if entry is not None and entry.reserved > 0:
            entry.reserved -= 1

    # --- operator actions and health ----------------------------------------------------

    async def drain(self, worker_id: str) -> WorkerInfo:
        """Stop dispatching to the worker; its running tasks carry on."""
        entry = self._entry(worker_id)
        entry.drained = True
        if entry.info.health != WorkerHealth.DRAINING:
            entry.info.health = WorkerHealth.DRAINING
            log.info("worker drained worker=%s", worker_id)
            await self._changed(entry)
        return self._view(entry)

    async def remove(self, worker_id: str) -> WorkerInfo:
        """Forget the worker and close its client; it may register again later."""
        entry = self._entries.pop(worker_id, None)
        if entry is None:
            raise NotFound(f"unknown worker {worker_id!r}", details={"worker": worker_id})
        await entry.client.aclose()
        entry.info.health = WorkerHealth.REMOVED
        log.info("worker removed worker=%s", worker_id)
        await self._changed(entry)
        return self._view(entry)

    async def sweep(self) -> builtins.list[WorkerInfo]:
        """Mark workers silent for 3 heartbeat intervals unhealthy; return those that changed."""
        limit = MISSED_HEARTBEATS * self._settings.heartbeat_interval
        now = self._clock()
        changed: builtins.list[WorkerInfo] = []
        for entry in list(self._entries.values()):
            if entry.info.health == WorkerHealth.UNHEALTHY:
                continue
            if entry.seen is not None and now - entry.seen <= limit:
                continue
            entry.info.health = WorkerHealth.UNHEALTHY
            entry.info.health_reason = f"missed {MISSED_HEARTBEATS} heartbeats"
            log.warning(
                "worker unhealthy worker=%s: no heartbeat for %.1fs",
                entry.info.id,
                now - entry.seen if entry.seen is not None else float("inf"),
            )
            await self._changed(entry)
            changed.append(self._view(entry))
        return changed

    def restore(self, infos: builtins.list[WorkerInfo]) -> None:
        """Reload stored workers at start: unhealthy until they heartbeat again."""
        for stored in infos:
            if stored.health == WorkerHealth.REMOVED or stored.id in self._entries:
                continue
            info = stored.model_copy(
                update={
                    "health": WorkerHealth.UNHEALTHY,
                    "health_reason": "control plane restarted: waiting for the worker",
                    "running": 0,
                    "breaker": "closed",
                    "recent_failures": 0,
                }
            )
            self._entries[info.id] = _Entry(
                info=info,
                client=self._new_client(info.id, info.url, info.protocol, info.tls, None),
                seen=None,
                drained=stored.health == WorkerHealth.DRAINING,
                restored=True,
            )

    async def probe_agents(self) -> builtins.list[WorkerInfo]:
        """Poll every remote agent's ``/status`` (they do not heartbeat); an answer counts as
        a heartbeat. Returns the agents whose health changed."""
        entries = [e for e in self._entries.values() if e.info.protocol == "agency-agent"]
        answers = await asyncio.gather(
            *(e.client.status() for e in entries), return_exceptions=True
        )
        changed: builtins.list[WorkerInfo] = []
        for entry, answer in zip(entries, answers, strict=True):
            if isinstance(answer, BaseException):
                if not isinstance(answer, AgencyError):
                    log.warning("probe of agent %s failed", entry.info.id, exc_info=answer)
                continue
            if self._entries.get(entry.info.id) is not entry:
                continue  # removed or re-registered while the probe ran
            client = entry.client
            assert isinstance(client, AgencyAgentClient)
            entry.seen = self._clock()
            entry.info.last_heartbeat = utcnow()
            entry.info.version = client.version
            entry.info.agent_state = client.agent_state
            entry.info.current_task = client.current_task
            entry.reported_running = list(answer.running)
            health = WorkerHealth.DRAINING if entry.drained else WorkerHealth.HEALTHY
            if health != entry.info.health:
                log.info(
                    "agent health worker=%s %s -> %s", entry.info.id, entry.info.health, health
                )
                entry.info.health = health
                await self._changed(entry)
                changed.append(self._view(entry))
        return changed

    async def aclose(self) -> None:
        """Close every worker client (at shutdown)."""
        for entry in self._entries.values():
            await entry.client.aclose()

    # --- internals ------------------------------------------------------------------------

    def _new_client(
        self,
        worker_id: str,
        url: str,
        protocol: WorkerProtocol,
        tls: WorkerTLS | None,
        secret: str | None,
    ) -> WorkerClient:
        if protocol == "agency-agent":
            # the agent has no auth: agency's worker token is never sent to it
            return AgencyAgentClient(worker_id, url, self._settings, tls=tls, on_link=self._link)
        # a worker that handed over no secret gets the shared AGENCY_WORKER_TOKEN (older
        # workers and protocol workers configured with it)
        return WorkerClient(worker_id, url, self._settings, token=self._token(secret), tls=tls)

    async def _link(self, link: AgentLink) -> None:
        if self.on_agent_link is not None:
            await self.on_agent_link(link)

    def restore_links(self, links: builtins.list[AgentLink]) -> builtins.list[AgentLink]:
        """Give each remote agent its attempts from before a restart; returns those restored
        (a link whose worker is gone or is not an agent any more is left out)."""
        restored = []
        for link in links:
            entry = self._entries.get(link.worker_id)
            if entry is not None and isinstance(entry.client, AgencyAgentClient):
                entry.client.restore(link)
                restored.append(link)
        return restored

    def _token(self, secret: str | None) -> str | None:
        return secret or self._settings.worker_token

    def _entry(self, worker_id: str) -> _Entry:
        entry = self._entries.get(worker_id)
        if entry is None:
            raise NotFound(f"unknown worker {worker_id!r}", details={"worker": worker_id})
        return entry

    def _view(self, entry: _Entry) -> WorkerInfo:
        return entry.info.model_copy(
            update={
                "running": entry.reserved,
                "breaker": entry.client.breaker_state,
                "recent_failures": entry.client.recent_failures,
            }
        )

    async def _changed(self, entry: _Entry) -> None:
        if self._on_change is not None:
            await self._on_change(self._view(entry))
