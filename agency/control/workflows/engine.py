"""``WorkflowEngine``: moves live runs forward, step by step, and survives a ``kill -9``.

The engine keeps every run that is not final in memory (it is their only writer) and
advances a run whenever one of its tasks reaches a final state: it follows the committed
events of the store (a subscription, not a poll), with a sweep every ``SWEEP`` seconds as the
safety net of a lagging subscriber. Each run is advanced under its own lock; every
transition is one checkpoint (the run's row, the steps that moved, the event) written
atomically before the next decision.

Why no step's task is ever submitted twice: a step's tasks carry the idempotency keys
``wf:<run>:<step>:<index>`` (``:a<n>`` from the second attempt on), derived from the run
alone. They are submitted first, and the step is then checkpointed ``running`` with their
ids. A crash in between leaves the step ``pending``; on the next start it is decided again,
renders the same tasks from the same checkpointed outputs, and the orchestrator answers the
same keys with the tasks that already exist.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable

from agency.control.tasks import Orchestrator
from agency.control.workflows import record
from agency.control.workflows.graph import Next, decide, live_state, outcome
from agency.errors import AgencyError, ServiceUnavailable, StorageError
from agency.models import Event, Task, TaskState, TaskSubmit, utcnow
from agency.models.workflow_refs import RenderError, Scope, map_items, render
from agency.models.workflows import (
    MAX_ITEMS,
    RunState,
    StepRun,
    StepState,
    WorkflowRun,
    WorkflowStep,
)
from agency.storage import EventRepository, EventSubscription, WorkflowRepository

log = logging.getLogger("agency.workflows")
#: the actor of the engine's own transitions
ACTOR = "workflows"
#: seconds between sweeps of every live run (the fallback of the event subscription)
SWEEP = 5.0
#: most bytes of one task's stdout a step keeps as its output
OUTPUT_MAX = 64 * 1024


def task_key(run_id: str, step_id: str, index: int, attempt: int) -> str:
    """The idempotency key of one task of a step (see the module docstring)."""
    base = f"wf:{run_id}:{step_id}:{index}"
    return base if attempt == 1 else f"{base}:a{attempt}"


class WorkflowEngine:
    """Advances live runs (see the module docstring); ``WorkflowService`` is its front."""

    def __init__(
        self, repo: WorkflowRepository, events: EventRepository, tasks: Orchestrator
    ) -> None:
        self.repo = repo
        self.events = events
        self.tasks = tasks
        self.runs: dict[str, WorkflowRun] = {}
        self.by_task: dict[str, str] = {}  # task id -> run id, for the tasks of live runs
        #: tasks of live runs whose final state is durable (their committed event was seen)
        self.settled: set[str] = set()
        #: runs whose step tasks may exist unrecorded (resumed from a checkpoint, or a
        #: submission that failed): their keys are looked up before submitting
        self.unsure: set[str] = set()
        self._locks: dict[str, asyncio.Lock] = {}
        self._finals: dict[str, asyncio.Event] = {}
        self._dirty: set[str] = set()
        self._writes: dict[str, list[asyncio.Future[list[Event]]]] = {}
        self._wake = asyncio.Event()
        self._loops: list[asyncio.Task[None]] = []

    # --- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Subscribe to the events, load every live run from its checkpoint, resume them."""
        sub = self.events.subscribe()
        for run in await self.repo.live():
            self._adopt(run)
            self.unsure.add(run.id)
        loop = asyncio.get_running_loop()
        self._loops = [
            loop.create_task(self._watch(sub), name="agency-workflows-watch"),
            loop.create_task(self._work(), name="agency-workflows-work"),
        ]
        self.mark(self.runs)

    async def stop(self) -> None:
        for task in self._loops:
            task.cancel()
        for task in self._loops:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._loops = []

    def lock(self, run_id: str) -> asyncio.Lock:
        return self._locks.setdefault(run_id, asyncio.Lock())

    def _adopt(self, run: WorkflowRun) -> None:
        self.runs[run.id] = run
        self._finals.setdefault(run.id, asyncio.Event()).clear()
        for step in run.steps:
            for task_id in step.task_ids:
                self.by_task[task_id] = run.id

    def adopt(self, run: WorkflowRun) -> None:
        """Track a run that just became live (a new run, or a retried one)."""
        self._adopt(run)
        self.mark([run.id])

    def mark(self, run_ids: Iterable[str]) -> None:
        """Advance these runs soon."""
        self._dirty.update(run_ids)
        self._wake.set()

    async def wait(self, run_id: str, timeout: float) -> bool:
        """Whether the run is final within ``timeout`` seconds (the burst mode of tests)."""
        if run_id not in self.runs:
            return True
        event = self._finals.setdefault(run_id, asyncio.Event())
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def _watch(self, sub: EventSubscription) -> None:
        async for ev in sub:
            if sub.lagged:  # events were lost: look at every run
                sub.lagged = False
                self.mark(self.runs)
            if ev.resource_type != "task":
                continue
            run_id = self.by_task.get(ev.resource_id)
            if run_id is None:
                continue
            if ev.details.get("to") in _TERMINAL:
                self.settled.add(ev.resource_id)
                self.mark([run_id])
            else:  # retried by its policy: the next final state must land again
                self.settled.discard(ev.resource_id)

    async def _work(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), SWEEP)
            if not self._wake.is_set():
                self._dirty.update(self.runs)  # the sweep
            self._wake.clear()
            dirty, self._dirty = self._dirty, set()
            await asyncio.gather(*(self._advance_logged(r) for r in dirty))

    async def _advance_logged(self, run_id: str) -> None:
        try:
            async with self.lock(run_id):
                await self.advance(run_id)
        except (ServiceUnavailable, StorageError) as exc:  # passing: the sweep tries again
            log.warning("workflow run %s: not advanced now: %s", run_id, exc)
        except Exception:
            log.exception("workflow run %s: advancing failed", run_id)

    # --- moving a run forward (the caller holds the run's lock) --------------------------

    async def advance(self, run_id: str) -> None:
        """Finish the steps whose tasks ended, decide the pending ones, finish the run."""
        try:
            await self._advance(run_id)
        finally:
            await self.flush(run_id)
            run = self.runs.get(run_id)
            if run is not None and run.state.final:
                self.forget(run_id)  # only once its last checkpoint is durable

    async def _advance(self, run_id: str) -> None:
        run = self.runs.get(run_id)
        if run is None or run.state.final:
            return
        moved = True
        while moved:
            moved = False
            for step in run.steps:
                if step.state is StepState.RUNNING:
                    moved |= await self._check(run, step)
            for spec in run.spec.steps:
                step = run.step(spec.id)
                if step.state is StepState.PENDING and not run.cancel_requested:
                    moved |= await self._decide(run, spec, step)
        await self._settle(run)

    async def save(
        self,
        run: WorkflowRun,
        action: str,
        steps: list[StepRun],
        *,
        actor: str = ACTOR,
        **extra: object,
    ) -> None:
        """One transition: bump the version, checkpoint the run and the steps, one event.

        The write is queued, not awaited (``advance`` awaits them all at its end, so
        transitions made in one round share group commits): a checkpoint lost in a crash
        is derived again on resume, from the tasks and their keys, the same way."""
        event = record.transition(run, actor, action, steps, **extra)
        self._writes.setdefault(run.id, []).append(self.repo.save_nowait(run, steps, event))

    async def flush(self, run_id: str) -> None:
        """Wait until every checkpoint of the run queued so far is durable."""
        writes = self._writes.pop(run_id, [])
        if writes:
            await asyncio.gather(*writes)

    async def _final(self, task_id: str) -> Task | None:
        """The task if its final state is durable (with its output), else ``None``.

        Memory turns a task final before its write (which carries the output) is durable:
        its committed event (``settled``) or the stored row says the write has landed."""
        task = await self.tasks.get(task_id)
        if not task.state.terminal:
            return None
        if task_id in self.settled:
            return task
        stored = await self.tasks.repos.tasks.get(task_id)
        if stored is None or not stored.state.terminal:
            return None
        self.settled.add(task_id)
        return stored

    async def _check(self, run: WorkflowRun, step: StepRun) -> bool:
        found = [await self._final(t) for t in step.task_ids]
        tasks = [t for t in found if t is not None]
        if len(tasks) < len(found):
            return False
        outputs = [await self._output(t.id, t.kind) for t in tasks]
        ok = all(t.state is TaskState.SUCCEEDED for t in tasks)
        canceled = any(t.state is TaskState.CANCELED for t in tasks)
        if ok:
            state, reason = StepState.SUCCEEDED, None
        elif canceled and run.cancel_requested:
            state, reason = StepState.CANCELED, run.reason
        else:
            bad = [t for t in tasks if t.state is not TaskState.SUCCEEDED]
            state = StepState.CANCELED if canceled else StepState.FAILED
            reason = f"task {bad[0].id} {bad[0].state.value}: {bad[0].reason or ''}".strip()
        step.state, step.reason, step.outputs = state, reason, outputs
        step.finished_at = utcnow()
        for t in tasks:
            self.by_task.pop(t.id, None)
            self.settled.discard(t.id)
        await self.save(run, f"workflow.step_{state.value}", [step], step_id=step.id)
        return True

    async def _output(self, task_id: str, kind: str) -> str:
        if kind == "noop":
            return ""
        try:
            out = await self.tasks.output(task_id)
        except AgencyError as exc:
            log.warning("output of task %s not read: %s", task_id, exc)
            return ""
        return out.data[:OUTPUT_MAX].strip()

    async def _decide(self, run: WorkflowRun, spec: WorkflowStep, step: StepRun) -> bool:
        what = decide(run, spec)
        if what is Next.WAIT:
            return False
        if what is Next.SKIP:
            step.state, step.reason = StepState.SKIPPED, f"when: {spec.when.value} did not hold"
            step.finished_at = utcnow()
            await self.save(run, "workflow.step_skipped", [step], step_id=step.id)
            return True
        if what is Next.APPROVAL:
            step.state = StepState.WAITING_APPROVAL
            step.started_at = utcnow()
            await self.save(
                run,
                "workflow.step_waiting_approval",
                [step],
                step_id=step.id,
                approval=spec.approval.model_dump(mode="json") if spec.approval else None,
            )
            return True
        return await self.start_step(run, spec, step)

    def scope(self, run: WorkflowRun, item: object = None) -> Scope:
        return Scope(
            params=run.params,
            outputs={s.id: s.outputs or [] for s in run.steps},
            mapped={s.id: s.map is not None for s in run.spec.steps},
            item=item,
        )

    async def start_step(self, run: WorkflowRun, spec: WorkflowStep, step: StepRun) -> bool:
        """Submit the step's tasks (idempotent keys), then checkpoint it ``running``."""
        try:
            items = map_items(spec, self.scope(run))
            if items is not None and len(items) > MAX_ITEMS:
                raise RenderError(
                    f"map of step {spec.id!r} has {len(items)} items (max {MAX_ITEMS})"
                )
            reqs = [
                self._request(run, spec, step, i, item)
                for i, item in enumerate(items if items is not None else [None])
            ]
            # a run this process created, and whose submissions all answered, cannot have
            # a task under these keys yet: skip the orchestrator's lookup (a database read)
            fresh = run.id not in self.unsure
            tasks = (
                await self.tasks.submit_many(reqs, run.created_by, new_keys=fresh) if reqs else []
            )
        except (ServiceUnavailable, StorageError):
            self.unsure.add(run.id)  # it may have landed: look the keys up next time
            raise  # passing: the step stays pending and the sweep decides it again
        except (AgencyError, RenderError, ValueError) as exc:
            step.state, step.reason = StepState.FAILED, f"not submitted: {exc}"
            step.finished_at = utcnow()
            step.outputs = []
            await self.save(run, "workflow.step_failed", [step], step_id=step.id)
            return True
        for t in tasks:
            self.by_task[t.id] = run.id
        step.task_ids = [t.id for t in tasks]
        step.items = items
        step.started_at = step.started_at or utcnow()
        step.state = StepState.RUNNING
        if not tasks:  # a map over no items has nothing to wait for
            step.state, step.outputs, step.finished_at = StepState.SUCCEEDED, [], utcnow()
        if run.state is RunState.PENDING or run.state is RunState.WAITING_APPROVAL:
            run.state = RunState.RUNNING
        await self.save(run, f"workflow.step_{step.state.value}", [step], step_id=step.id)
        return True

    def _request(
        self, run: WorkflowRun, spec: WorkflowStep, step: StepRun, index: int, item: object
    ) -> TaskSubmit:
        t = spec.task
        scope = self.scope(run, item)
        return TaskSubmit(
            kind=t.kind,
            spec=render(t.spec, scope),
            labels=render(t.labels, scope),
            priority=t.priority,
            retry=t.retry,
            locks=t.locks,
            timeout=t.timeout,
            idempotency_key=task_key(run.id, spec.id, index, step.attempt),
        )

    async def _settle(self, run: WorkflowRun) -> None:
        final = outcome(run)
        if final is None:
            state = live_state(run)
            if state is not run.state:
                run.state = state
                await self.save(run, f"workflow.{state.value}", [])
            return
        run.state = final
        run.finished_at = utcnow()
        if final is RunState.FAILED and run.reason is None:
            bad = [s for s in run.steps if s.state in (StepState.FAILED, StepState.CANCELED)]
            run.reason = f"step {bad[0].id} {bad[0].state.value}" if bad else None
        await self.save(run, f"workflow.{final.value}", [])

    def forget(self, run_id: str) -> None:
        """A final run leaves memory (its rows and events stay)."""
        run = self.runs.pop(run_id, None)
        self.unsure.discard(run_id)
        if run is not None:
            for step in run.steps:
                for task_id in step.task_ids:
                    self.by_task.pop(task_id, None)
                    self.settled.discard(task_id)
        self._locks.pop(run_id, None)
        event = self._finals.pop(run_id, None)
        if event is not None:
            event.set()


_TERMINAL = frozenset(s.value for s in TaskState if s.terminal)
