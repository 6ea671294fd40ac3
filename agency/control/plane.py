"""``ControlPlane``: every service of the control plane, built whole at start-up.

``open`` opens the database, recovers and starts the orchestrator, loads the API tokens,
starts the scheduler and wires the services over the repositories; ``close`` stops the
scheduler, then the orchestrator (in-flight tasks stay recorded and recoverable), and closes the
database. The API, the CLI, notebooks and
tests use the same object, in process.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from prometheus_client import CollectorRegistry

from agency.control.alerts import AlertService
from agency.control.audit import AuditService
from agency.control.chat.assistant import Assistant
from agency.control.chat.service import ChatService
from agency.control.checkpoints import CheckpointService, checked_checkpoint_url
from agency.control.gate import Gate
from agency.control.health import HealthService
from agency.control.metrics_hub import MetricsHub
from agency.control.queries import QueryService
from agency.control.ratelimit import RateLimiter
from agency.control.refusals import Refusals
from agency.control.runbooks import RunbookRunService
from agency.control.schedules import ScheduleService
from agency.control.tasks import Orchestrator
from agency.control.timeline import FleetTimeline
from agency.control.tokens import TokenBook
from agency.control.waivers import WaiverService
from agency.control.workflows import WorkflowService
from agency.errors import AgencyError
from agency.fleet import Registry
from agency.models import utcnow
from agency.security.keystore import open_keystore
from agency.security.masking import SecretMasker
from agency.settings import Settings
from agency.storage import Repositories

log = logging.getLogger(__name__)


class ControlPlane:
    """The running control plane's services (see the module docstring); use ``open``."""

    def __init__(
        self,
        settings: Settings,
        repos: Repositories,
        registry: Registry,
        tasks: Orchestrator,
        tokens: TokenBook,
        schedules: ScheduleService,
        metrics: CollectorRegistry,
    ) -> None:
        self.settings = settings
        self.repos = repos
        self.registry = registry
        self.metrics = metrics
        self.started_at: datetime = utcnow()
        self.tasks = tasks
        self.tokens = tokens
        #: child tasks: what a task token may reach (the task routes ask it)
        self.lineage = tasks.lineage
        self.schedules = schedules
        self.limiter = RateLimiter(settings.rate_limit)
        self.refusals: Refusals = tasks.refusals
        self.gate = Gate(tokens, self.limiter, self.refusals)
        self.alerts: AlertService = tasks.alerts
        self.waivers = WaiverService(tasks)
        self.workflows = WorkflowService(repos, tasks)
        self.masker: SecretMasker = tasks.masker  # one masker: chat, tasks, queries, ...
        self.queries = QueryService(repos.queries, settings, self.refusals, self.masker)
        self.chat = ChatService(
            repos.chat, Assistant(settings, tasks, self.queries.runner, schedules), self.masker
        )
        self.runbooks = RunbookRunService(repos.runbooks)
        self.checkpoints = CheckpointService(settings, repos.events)
        self.audit = AuditService(repos.events, tasks, self.checkpoints)
        self.health = HealthService(settings, repos, tasks, self.started_at)
        self.hub = MetricsHub(tasks.kpis, interval=settings.sse_metrics_interval)
        self.timeline = FleetTimeline(repos.timeline, tasks)

    @classmethod
    async def open(cls, settings: Settings) -> ControlPlane:
        """Open the database, start the orchestrator (recovering live tasks), load tokens, then
        start the scheduler (its recovered fires submit through the running orchestrator)."""
        checked_checkpoint_url(settings)  # refused before anything is opened
        repos = await Repositories.open(settings.database_path, batch_max=settings.write_batch_max)
        metrics = CollectorRegistry()
        tasks: Orchestrator | None = None
        schedules: ScheduleService | None = None
        try:
            registry = Registry(settings)
            tasks = Orchestrator(settings, repos, registry, metrics_registry=metrics)
            await tasks.start()
            tokens = TokenBook(repos.tokens, settings, tasks.task_tokens)
            await tokens.load()
            schedules = ScheduleService(
                repos.schedules, tasks, settings, metrics, masker=tasks.masker
            )
            await schedules.start()
        except BaseException:
            if schedules is not None:
                await schedules.stop()
            if tasks is not None:
                await tasks.stop()
            await repos.close()
            raise
        plane = cls(settings, repos, registry, tasks, tokens, schedules, metrics)
        await plane.checkpoints.start()
        plane.health.start()
        await plane.workflows.start()  # resumes every live run from its checkpoint
        await plane.learn_secrets()
        return plane

    async def learn_secrets(self) -> None:
        """Teach the chat's masker the keystore's values (again after ``agency secret set``)."""
        try:
            keystore = open_keystore(self.settings)
            await asyncio.to_thread(self.masker.learn, keystore)
        except AgencyError as exc:  # credential shapes are still masked without it
            log.warning("keystore values are not masked in chat: %s", exc)

    async def close(self) -> None:
        """Stop the KPI ticker, the scheduler (before the orchestrator it submits to) and the
        orchestrator (in-flight tasks stay recoverable), then close the database."""
        await self.hub.close()
        await self.health.close()
        try:
            await self.workflows.stop()
            await self.schedules.stop()
            await self.tasks.stop()
            await self.checkpoints.close()
        finally:
            await self.repos.close()

    async def __aenter__(self) -> ControlPlane:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
