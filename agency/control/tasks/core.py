"""``Orchestrator``: the task lifecycle end to end, behind one object the API calls.

It wires the parts (book, dispatcher, outcomes, cancel, tracker, fleet watch, alerts,
gates) over the repositories, and runs four loops: dispatch (woken by events), tracking (poll fallback and
deadlines), the fleet sweep (every second) and the KPI sampler. ``stop`` only stops the
loops: every in-flight task stays in the database and ``start`` recovers it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Coroutine
from datetime import datetime
from typing import Any, NamedTuple

from prometheus_client import CollectorRegistry

from agency.control.alerts import AlertService
from agency.control.budgets import BudgetBook
from agency.control.refusals import Refusals
from agency.control.task_tokens import TaskTokens
from agency.control.tasks.actions import BulkFilter, BulkResult, Operator, TaskActions
from agency.control.tasks.book import Book, Step
from agency.control.tasks.cancel import Canceller
from agency.control.tasks.costs import CostKpis
from agency.control.tasks.dispatch import Dispatcher
from agency.control.tasks.gates import Gates
from agency.control.tasks.kpis import WINDOWS, Kpis
from agency.control.tasks.lifecycle import created
from agency.control.tasks.lineage import Lineage
from agency.control.tasks.masking import masked_submit
from agency.control.tasks.outcomes import Outcomes
from agency.control.tasks.output import read_output
from agency.control.tasks.recovery import recover
from agency.control.tasks.runs import RunRecorder
from agency.control.tasks.spend import stop_over_budget
from agency.control.tasks.tracking import Tracker
from agency.control.tasks.workers import FleetWatch
from agency.errors import NotFound, ServiceUnavailable
from agency.fleet import Registry
from agency.models import (
    Attempt,
    Event,
    EventIn,
    KpiSample,
    RetryPolicy,
    Task,
    TaskState,
    TaskSubmit,
    Usage,
    WorkerHeartbeat,
    WorkerInfo,
    WorkerOutput,
    WorkerRegistration,
    WorkerReport,
    new_id,
)
from agency.models.pricing import PriceTable
from agency.models.runs import ChangesOut, StoredTranscriptItem
from agency.security.masking import SecretMasker
from agency.settings import Settings
from agency.storage import Repositories, TaskPage, TaskQuery

log = logging.getLogger("agency.orchestrator")
#: cancels a bulk cancel runs at once (each chunk lands in a few group commits)
BULK_CHUNK = 256
#: longest ``stop`` waits for the writes of changes already made in memory
STOP_WRITES_TIMEOUT = 10.0


class TaskHistory(NamedTuple):
    """A task with what it went through: its finished attempts and its events, and for an
    agent task its usage over every attempt and its latest session."""

    task: Task
    attempts: list[Attempt]
    timeline: list[Event]
    usage: Usage | None = None
    session_id: str | None = None
    children: tuple[str, ...] = ()


class Orchestrator:
    """Submits, dispatches, tracks, cancels and recovers tasks; see the package docstring."""

    def __init__(
        self,
        settings: Settings,
        repos: Repositories,
        registry: Registry,
        *,
        metrics_registry: CollectorRegistry | None = None,
    ) -> None:
        self.settings = settings
        self.repos = repos
        self.registry = registry
        # a remote agent's task id is stored before its dispatch counts (see recovery)
        registry.on_agent_link = repos.workers.save_link
        metrics = metrics_registry or CollectorRegistry()
        self.book = Book(repos, registry, Kpis(metrics))
        self.refusals = Refusals(repos.events, settings.refusal_sample_interval)
        self.task_tokens = TaskTokens.from_settings(settings)
        self.lineage = Lineage(self.book, self.task_tokens, settings.task_token_ttl, self.refusals)
        self.gates = Gates()
        #: masks secrets in what users send (shared by every service of the control plane)
        self.masker = SecretMasker()
        self.costs = CostKpis(metrics)
        self.budgets = BudgetBook(repos)
        prices = PriceTable.from_setting(settings.model_prices)
        self.runs = RunRecorder(self.book, registry, repos, prices, self.costs, self.budgets)
        self.budgets.live = self.runs.live_spend
        self.outcomes = Outcomes(self.book, registry, self.gates, self.runs)
        self.dispatcher = Dispatcher(
            self.book, registry, self.outcomes, self.budgets, self.lineage.mint
        )
        sending = self.dispatcher.sending
        self.canceller = Canceller(self.book, registry, self.outcomes, settings, sending)
        self.alerts = AlertService(repos.alerts, self.book.kpis.failure_rate, self.masker)
        self.fleet = FleetWatch(
            self.book, registry, self.outcomes, self.alerts, settings, sending, self.refusals
        )
        self.dispatcher.on_refused = self.fleet.refused
        self.tracker = Tracker(
            self.book, registry, self.outcomes, self.canceller, self.fleet, settings, sending
        )
        self.operator = Operator(self.book, self.canceller)
        self._keys: dict[str, str] = {}  # idempotency key -> task id
        self._loops: list[asyncio.Task[None]] = []
        self.recovery: dict[str, Any] = {}
        self._running = False

    # --- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Recover live tasks from the database, then start the loops."""
        if self._running:
            return
        await self.runs.load()
        await self.budgets.load()
        self.recovery = await recover(
            self.book, self.registry, self.outcomes, self.canceller, self._keys
        )
        last = await self.repos.events.find(resource_type="queue", limit=1, descending=True)
        self.dispatcher.paused = bool(last) and last[0].action == "queue.paused"
        self.fleet.started = time.monotonic()
        self._running = True
        self._loops = [
            self._loop(self.dispatcher.run(), "dispatch"),
            self._loop(self.tracker.run(), "tracking"),
            self._loop(self._every(1.0, self.fleet.sweep), "sweep"),
            self._loop(self._every(self.settings.kpi_sample_interval, self._sample), "kpis"),
            self._loop(
                self._every(self.settings.transcript_poll_interval, self._poll_runs),
                "transcripts",
            ),
            self._loop(self._every(1.0, self._release_held), "budgets"),
        ]

    async def _poll_runs(self) -> None:
        """Running agent attempts' transcripts and usage, then the fleet budgets they reach."""
        await self.runs.poll_live()
        await stop_over_budget(self.book, self.budgets, self.canceller)

    async def _release_held(self) -> None:
        self.dispatcher.release_held()

    def _loop(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        return asyncio.get_running_loop().create_task(coro, name=f"agency-orchestrator-{name}")

    async def _every(self, seconds: float, fn: Any) -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                await fn()
            except Exception:  # a failed round is logged; the next one tries again
                log.exception("periodic %s failed", getattr(fn, "__name__", fn))

    async def stop(self) -> None:
        """Stop the loops and jobs; in-flight tasks stay recoverable (nothing is lost)."""
        self._running = False
        for loop in self._loops:
            loop.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)
        self._loops = []
        for part in (self.dispatcher, self.canceller, self.tracker, self.fleet):
            await part.stop()
        # changes already applied to memory are persisted before stop returns
        until = time.monotonic() + STOP_WRITES_TIMEOUT
        while self.book.writing and time.monotonic() < until:
            await self.book.wait_change(until - time.monotonic())
        await self.refusals.close()
        await self.registry.aclose()

    # --- submit and read ------------------------------------------------------------------

    async def submit(self, req: TaskSubmit, actor: str, scope: str | None = None) -> Task:
        """Persist a task with its ``task.created`` event and queue it; idempotent by key.
        ``scope``: the task a task token acts for (the new task becomes its child)."""
        return (await self.submit_many([req], actor, scope))[0]

    async def submit_many(
        self,
        reqs: list[TaskSubmit],
        actor: str,
        scope: str | None = None,
        *,
        new_keys: bool = False,
    ) -> list[Task]:
        """Submit many tasks in one transaction; returns them in request order.

        ``scope``: the task whose token submits (its children only). ``new_keys``: the caller
        vouches that no task carries these idempotency keys yet (the workflow engine, for keys
        it derived and never submitted in this process), so the lookup of stored keys, a
        database read, is skipped.
        """
        self._require_running()
        if scope is not None or any(r.parent_id is not None for r in reqs):
            reqs = await self.lineage.check(reqs, scope)
        keys = [r.idempotency_key for r in reqs if r.idempotency_key]
        known = {} if new_keys else await self._known_keys(keys)
        if scope is not None:
            self.lineage.refuse_foreign_keys(known, scope)
        self.lineage.refuse_ending(reqs)
        out: list[Task] = []
        steps: list[Step] = []
        for req in reqs:
            key = req.idempotency_key
            if key and key in known:
                out.append(known[key])
                continue
            task = self._new_task(masked_submit(self.masker, req), actor)
            if key:
                known[key] = task
                self._keys[key] = task.id
            steps.append(Step(None, task, created(task, actor)))
            out.append(task)
        if steps:
            ops = self.book.stage(steps, self.lineage.announce([s.new for s in steps], actor))
            for step in steps:
                self.book.watch_deadline(step.new)
            await self.book.write(ops)
        return out

    def _new_task(self, req: TaskSubmit, actor: str) -> Task:
        retry = req.retry or RetryPolicy(max_attempts=self.settings.default_max_attempts)
        return Task(
            id=new_id(),
            kind=req.kind,
            spec=req.spec,
            labels=req.labels,
            priority=req.priority,
            max_attempts=retry.max_attempts,
            retry=retry,
            idempotency_key=req.idempotency_key,
            locks=sorted(set(req.locks)),
            gates=list(req.gates),
            timeout=req.timeout,
            deadline=req.deadline,
            created_by=actor,
            parent_id=req.parent_id,
        )

    async def _known_keys(self, keys: list[str]) -> dict[str, Task]:
        found: dict[str, Task] = {}
        missing = []
        for key in keys:
            task_id = self._keys.get(key)
            if task_id is not None and task_id in self.book.tasks:
                found[key] = self.book.tasks[task_id]
            else:
                missing.append(key)
        if missing:
            for stored in await self.repos.tasks.by_keys(missing):
                task = self.book.tasks.get(stored.id) or stored
                found.setdefault(task.idempotency_key or "", task)
        # a concurrent submit with the same key may have landed while we read
        for key in keys:
            task_id = self._keys.get(key)
            if key not in found and task_id is not None and task_id in self.book.tasks:
                found[key] = self.book.tasks[task_id]
        return found

    async def get(self, task_id: str) -> Task:
        """The task as it is now (memory for live tasks, the database for finished ones)."""
        task = self.book.latest(task_id)
        if task is not None:
            return task
        stored = await self.repos.tasks.get(task_id)
        if stored is None:
            raise NotFound(f"no task {task_id}", details={"task_id": task_id})
        return stored

    async def page(self, q: TaskQuery) -> TaskPage:
        """A page of tasks as stored, filtered and in ``q``'s order (keyset cursor)."""
        return await self.repos.tasks.page(q)

    async def page_with_usage(self, q: TaskQuery) -> tuple[TaskPage, dict[str, Usage]]:
        """``page``, and the usage of its agent tasks by id (one read for the whole page)."""
        page = await self.repos.tasks.page(q)
        agents = [t.id for t in page.items if t.kind == "agent"]
        return page, (await self.runs.usage_of(agents) if agents else {})

    async def history(self, task_id: str) -> TaskHistory:
        """The task as it is now, its finished attempts and its event timeline."""
        task = await self.get(task_id)
        attempts = await self.repos.tasks.attempts(task_id)
        timeline = await self.repos.events.timeline(task_id)
        usage, session = await self.runs.usage(task_id)
        children = tuple(await self.repos.tasks.child_ids(task_id))
        return TaskHistory(task, attempts, timeline, usage, session, children)

    async def transcript(
        self, task_id: str, after: tuple[int, int] = (0, 0), limit: int = 10_000
    ) -> list[StoredTranscriptItem]:
        """An agent task's stored transcript after the (attempt, seq) position."""
        await self.get(task_id)
        return await self.runs.transcript(task_id, after, limit)

    async def follow_transcript(
        self, task_id: str, after: tuple[int, int] = (0, 0)
    ) -> AsyncIterator[StoredTranscriptItem]:
        """The transcript as it grows, until the task has ended (the SSE stream)."""
        await self.get(task_id)
        interval = self.settings.transcript_poll_interval / 2
        async for item in self.runs.follow(task_id, after, interval):
            yield item

    async def changes(self, task_id: str) -> ChangesOut:
        """What the task's latest agent attempt changed in its workspace (capped diff)."""
        await self.get(task_id)
        return await self.runs.changes(task_id)

    def _require_running(self) -> None:
        if not self._running:
            raise ServiceUnavailable("the orchestrator is not running")

    # --- cancel and operator actions ------------------------------------------------------

    async def cancel(self, task_id: str, actor: str, reason: str | None = None) -> Task:
        """Cancel a task (see ``cancel.py`` for the lifecycle); idempotent."""
        task = await self.get(task_id)
        if task.state.terminal:
            return task
        return await self.canceller.cancel(task, actor, self.masker.optional(reason))

    async def bulk_cancel(
        self, f: BulkFilter, actor: str, *, dry_run: bool, reason: str | None = None
    ) -> BulkResult:
        """Cancel every live task matching ``f``; with ``dry_run`` only count them."""
        reason = self.masker.optional(reason)  # reasons are stored in events
        chosen = sorted(
            t.id for t in list(self.book.tasks.values()) if not t.state.terminal and f.matches(t)
        )
        if not dry_run:
            # concurrently, a chunk at a time: the writer then commits a chunk's cancels
            # together instead of paying one commit per task (10,000 took over 30 s one by one)
            for start in range(0, len(chosen), BULK_CHUNK):
                await asyncio.gather(
                    *(
                        self._cancel_live(tid, actor, reason)
                        for tid in chosen[start : start + BULK_CHUNK]
                    )
                )
        return BulkResult(count=len(chosen), task_ids=chosen, dry_run=dry_run)

    async def _cancel_live(self, task_id: str, actor: str, reason: str | None) -> None:
        # the task is read right before its change is staged (no await in between), so a
        # task that finished meanwhile is skipped, never changed from a stale copy
        task = self.book.get(task_id)
        if task is not None:
            await self.canceller.cancel(task, actor, reason)

    async def act(
        self,
        task_id: str,
        action: TaskActions | str,
        actor: str,
        reason: str | None = None,
        priority: int | None = None,
        raised: dict[str, Any] | None = None,
    ) -> Task:
        """Run an operator action (pause, resume, retry, abort, reprioritize), audited.

        ``raised`` (resume of a task paused at its budget): new ``max_cost_usd``/``max_turns``.
        """
        task = await self.get(task_id)
        reason = self.masker.optional(reason)  # reasons are stored in events
        # a budget pause resumes in the run's own session, so the conversation goes on
        session = (await self.runs.usage(task_id))[1] if action == TaskActions.RESUME else None
        return await self.operator.act(
            task, TaskActions(action), actor, reason, priority, raised=raised, session=session
        )

    @property
    def queue_paused(self) -> bool:
        return self.dispatcher.paused

    async def pause_queue(self, actor: str, reason: str | None = None) -> None:
        """Stop dispatching anything new; running tasks carry on."""
        await self._queue_event(True, actor, reason)

    async def resume_queue(self, actor: str, reason: str | None = None) -> None:
        await self._queue_event(False, actor, reason)

    async def _queue_event(self, paused: bool, actor: str, reason: str | None) -> None:
        reason = self.masker.optional(reason)  # reasons are stored in events
        if self.dispatcher.paused == paused:
            return
        self.dispatcher.paused = paused
        action = "queue.paused" if paused else "queue.resumed"
        await self.repos.events.append(
            EventIn(
                actor=actor,
                action=action,
                resource_type="queue",
                resource_id="default",
                details={"reason": reason},
            )
        )
        self.book.wake.set()
        self.book.notify()

    # --- workers --------------------------------------------------------------------------

    async def register_worker(
        self, reg: WorkerRegistration, actor: str, address: str | None = None
    ) -> WorkerInfo:
        """Register (or refresh) a worker; a refused URL is audited with ``address``."""
        return await self.fleet.register(reg, actor, address)

    async def heartbeat(self, hb: WorkerHeartbeat) -> WorkerInfo:
        return await self.fleet.heartbeat(hb)

    async def handle_report(self, report: WorkerReport) -> None:
        """A status pushed by a worker; stale or duplicate reports are ignored."""
        await self.outcomes.apply(report.status, report.worker_id)

    async def drain_worker(
        self, worker_id: str, actor: str, reason: str | None = None
    ) -> WorkerInfo:
        return await self.fleet.drain(worker_id, actor, self.masker.optional(reason))

    async def remove_worker(
        self, worker_id: str, actor: str, reason: str | None = None
    ) -> WorkerInfo:
        return await self.fleet.remove(worker_id, actor, self.masker.optional(reason))

    def workers(self) -> list[WorkerInfo]:
        return self.registry.list()

    # --- output --------------------------------------------------------------------------

    async def output(self, task_id: str, stream: str = "stdout", offset: int = 0) -> WorkerOutput:
        """Live from the worker while the task runs; the stored chunks once it has finished."""
        return await read_output(self.book, self.registry, await self.get(task_id), stream, offset)

    # --- KPIs, health, burst --------------------------------------------------------------

    def kpis(self) -> dict[str, Any]:
        """A snapshot for the SSE stream: 1-minute figures at the top, both windows below."""
        active, open_breakers = self.book.kpis.fleet(self.registry.list())
        windows = {name: self.book.kpis.window(seconds) for name, seconds in WINDOWS.items()}
        by_state = {s.value: self.book.kpis.by_state.get(s.value, 0) for s in TaskState}
        return {
            **windows["1m"],
            "active_workers": active,
            "queue_depth": len(self.book.queue) + len(self.book.waiting),
            "running": len(self.book.flying),
            "open_breakers": open_breakers,
            "by_state": by_state,
            "windows": windows,
            "queue_paused": self.dispatcher.paused,
            "agents": self.costs.snapshot(),
            "ts": KpiSample().ts.isoformat(),
        }

    async def kpi_history(
        self, since: datetime | None = None, limit: int = 1000
    ) -> list[KpiSample]:
        """The sampled KPI history, oldest first (the most recent ``limit`` samples)."""
        return await self.repos.kpis.find(since=since, limit=limit)

    async def _sample(self) -> None:
        snap = self.kpis()
        fields = {k: snap[k] for k in KpiSample.model_fields if k in snap and k != "ts"}
        await self.repos.kpis.record(KpiSample(**fields))

    def health(self) -> dict[str, Any]:
        """``healthy``, ``degraded`` (no worker, open breakers, paused queue) or ``unhealthy``."""
        dead = [t.get_name() for t in self._loops if t.done()]
        active, open_breakers = self.book.kpis.fleet(self.registry.list())
        info = {
            "loops": len(self._loops),
            "in_flight": len(self.book.flying),
            "queue_depth": len(self.book.queue),
            "active_workers": active,
            "open_breakers": open_breakers,
            "queue_paused": self.dispatcher.paused,
            "recovery": self.recovery,
        }
        if not self._running or dead or self.repos.closed:
            why = (
                "not started"
                if not self._running
                else (f"loops stopped: {dead}" if dead else "store closed")
            )
            return {"status": "unhealthy", "reason": why, **info}
        if active == 0:
            return {"status": "degraded", "reason": "no healthy worker", **info}
        if open_breakers:
            return {
                "status": "degraded",
                "reason": f"{open_breakers} open circuit breaker(s)",
                **info,
            }
        if self.dispatcher.paused:
            return {"status": "degraded", "reason": "queue paused", **info}
        return {"status": "healthy", "reason": None, **info}

    def _busy(self) -> bool:
        if self.book.flying or self.dispatcher.sending or self.book.writing:
            return True
        if self.dispatcher.paused:
            return False
        for task_id in self.book.queue.ids():
            task = self.book.tasks.get(task_id)
            if task is not None and self.registry.candidates(task.kind, task.labels):
                return True
        return False

    async def run_burst(self, timeout: float = 60.0) -> None:
        """Return when no task is dispatchable or in flight; ``TimeoutError`` past ``timeout``."""
        self._require_running()
        until = time.monotonic() + timeout
        while self._busy():
            left = until - time.monotonic()
            if left <= 0:
                raise TimeoutError(
                    f"burst not drained after {timeout}s: {len(self.book.flying)} in flight, "
                    f"{len(self.book.queue)} queued"
                )
            # re-checked on every change, and at least every 0.2 s for timers (backoff, sweep)
            await self.book.wait_change(min(left, 0.2))

    async def __aenter__(self) -> Orchestrator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        with contextlib.suppress(Exception):
            await self.stop()
