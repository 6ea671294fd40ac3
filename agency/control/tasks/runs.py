"""Agent runs on the control plane's side: transcripts, usage, cost, changes and sessions.

While an agent attempt runs, ``RunRecorder.poll_live`` copies its new transcript items from
the worker every ``AGENCY_TRANSCRIPT_POLL_INTERVAL`` (the live view), with the attempt's usage
so far, priced (``live``): ``GET /api/v1/tasks/{id}`` shows it, and fleet budgets count it
(``live_spend``) so a cap is reached while its runs still run; when the attempt ends,
``final_ops`` reads the rest of the transcript, its workspace changes and its usage, prices
it (``PriceTable``) and returns the rows to store with the task's result, in one write.
It also remembers which worker holds each session, so a follow-up goes there.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from agency.control.budgets import BudgetBook
from agency.control.tasks.book import Book, Op
from agency.control.tasks.costs import COST_WINDOWS, CostKpis
from agency.errors import AgencyError
from agency.fleet import Registry
from agency.models import Task, TaskState, TranscriptItem, Usage, WorkerTaskStatus, utcnow
from agency.models.pricing import PriceTable
from agency.models.runs import AgentRun, ChangesOut, StoredChanges, StoredTranscriptItem
from agency.storage import Repositories

log = logging.getLogger("agency.orchestrator")

AGENT = "agent"
_PAGE = 500
_PAGES = 200  # most transcript pages read when an attempt ends (bounded loop)


def stored(task_id: str, item: TranscriptItem) -> StoredTranscriptItem:
    """The stored shape of a worker's item (``raw`` and ``line`` stay on the worker)."""
    return StoredTranscriptItem(
        task_id=task_id,
        attempt=item.attempt,
        seq=item.seq,
        time=item.time,
        type=item.type,
        kind=item.kind,
        text=item.text,
        tool_name=item.tool_name,
        tool_use_id=item.tool_use_id,
        input=item.input,
        output=item.output,
        error=item.error,
    )


class RunRecorder:
    """Copies agent attempts' transcripts, changes and usage from their workers."""

    def __init__(
        self,
        book: Book,
        registry: Registry,
        repos: Repositories,
        prices: PriceTable,
        costs: CostKpis,
        budgets: BudgetBook,
    ) -> None:
        self.book = book
        self.costs = costs
        self.budgets = budgets
        self.registry = registry
        self.repos = repos
        self.prices = prices
        #: (task id, attempt) -> the last transcript seq stored
        self.cursor: dict[tuple[str, int], int] = {}
        #: session id -> the worker whose workspace holds it
        self.sessions: dict[str, str] = {}
        #: task id -> (attempt, its usage so far, priced) of running agent attempts
        self.live: dict[str, tuple[int, Usage]] = {}
        self._reading: set[str] = set()

    async def load(self) -> None:
        """Sessions known from earlier runs, and the last day's costs (after a restart)."""
        self.costs.load(await self.repos.agent_runs.runs_since(utcnow() - COST_WINDOWS["day"]))
        for run in await self.repos.agent_runs.sessions():
            if run.session_id and run.worker_id:
                self.sessions[run.session_id] = run.worker_id

    def session_worker(self, task: Task) -> str | None:
        """The worker that holds ``spec.session_id`` of an agent task, if known."""
        if task.kind != AGENT:
            return None
        session = task.spec.get("session_id")
        return self.sessions.get(session) if isinstance(session, str) else None

    # --- while it runs ---------------------------------------------------------------------

    async def poll_live(self) -> None:
        """One round: new items of every running agent attempt, stored for the live view."""
        running = [
            t
            for t in (self.book.get(i) for i in list(self.book.flying))
            if t is not None and t.kind == AGENT and t.state is TaskState.RUNNING and t.worker_id
        ]
        await asyncio.gather(*(self._poll_one(t) for t in running))

    async def _poll_one(self, task: Task) -> None:
        if task.id in self._reading or task.worker_id is None:
            return
        self._reading.add(task.id)
        try:
            items, usage = await self._read(task, task.worker_id, pages=4)
            await self.repos.agent_runs.save_items(items)
            current = self.book.get(task.id)
            if usage is not None and current is not None and not current.state.terminal:
                self.live[task.id] = (task.attempt, self._priced(usage, task))
        except AgencyError as exc:
            log.info("live transcript of %s not read: %s", task.id, exc)
        finally:
            self._reading.discard(task.id)

    def _priced(self, usage: Usage, task: Task) -> Usage:
        """``usage`` with the task's model when it names none, and a cost from the table when
        the runtime reported none."""
        if usage.model is None and isinstance(task.spec.get("model"), str):
            usage = usage.model_copy(update={"model": task.spec["model"]})
        cost, _ = self.prices.cost(usage)
        return usage.model_copy(update={"cost_usd": cost})

    def live_spend(self) -> list[tuple[dict[str, str], float]]:
        """(labels, cost so far) of every running agent attempt, for the fleet budgets."""
        out = []
        for task_id, (_, usage) in list(self.live.items()):
            task = self.book.get(task_id)
            if task is None or task.state.terminal:
                self.live.pop(task_id, None)
                continue
            out.append((dict(task.labels), float(usage.cost_usd or 0.0)))
        return out

    async def _read(
        self, task: Task, worker_id: str, pages: int
    ) -> tuple[list[StoredTranscriptItem], Usage | None]:
        key = (task.id, task.attempt)
        after = self.cursor.get(key, 0)
        client = self.registry.client(worker_id)
        out: list[StoredTranscriptItem] = []
        usage: Usage | None = None
        for _ in range(pages):
            page = await client.transcript(task.id, task.attempt, after, _PAGE)
            usage = page.usage or usage
            out += [stored(task.id, i) for i in page.items]
            if page.next_after <= after or not page.items:
                break
            after = page.next_after
            if page.eof:
                break
        self.cursor[key] = after
        return out, usage

    # --- when it ends -----------------------------------------------------------------------

    async def final_ops(self, task: Task, status: WorkerTaskStatus, worker_id: str) -> list[Op]:
        """The rest of the transcript, the changes and the run's usage, as rows to store."""
        if task.kind != AGENT:
            return []
        ops: list[Op] = []
        while task.id in self._reading:
            await asyncio.sleep(0.01)  # a live read holds the cursor: let it finish
        self._reading.add(task.id)
        try:
            ops += self.repos.agent_runs.items_op((await self._read(task, worker_id, _PAGES))[0])
        except AgencyError as exc:
            log.warning("transcript of %s from %s not stored: %s", task.id, worker_id, exc)
        finally:
            self._reading.discard(task.id)
            self.cursor.pop((task.id, task.attempt), None)
        try:
            changes = await self.registry.client(worker_id).changes(task.id, task.attempt)
            ops.append(
                self.repos.agent_runs.changes_op(
                    StoredChanges(task_id=task.id, **changes.model_dump(exclude={"task_id"}))
                )
            )
        except AgencyError as exc:
            log.info("changes of %s from %s not stored: %s", task.id, worker_id, exc)
        run = self.run_of(task, status, worker_id)
        self.live.pop(task.id, None)  # its final usage counts from here on
        ops.append(self.repos.agent_runs.run_op(run))
        ops.append(self.repos.workers.drop_link_op(task.id))  # a remote agent's, if any
        if run.session_id:
            self.sessions[run.session_id] = worker_id
        self.costs.record(run)
        self.budgets.record(run)
        return ops

    def run_of(self, task: Task, status: WorkerTaskStatus, worker_id: str) -> AgentRun:
        usage = status.usage or Usage()
        if usage.model is None and isinstance(task.spec.get("model"), str):
            usage = usage.model_copy(update={"model": task.spec["model"]})
        cost, source = self.prices.cost(usage)
        return AgentRun(
            task_id=task.id,
            attempt=task.attempt,
            worker_id=worker_id,
            runtime=status.runtime,
            session_id=status.session_id,
            model=usage.model,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cache_read_tokens=usage.cache_read_tokens,
            cache_write_tokens=usage.cache_write_tokens,
            cost_usd=cost,
            cost_source=source,
            turns=usage.turns,
            labels=dict(task.labels),
            finished_at=status.finished_at or task.updated_at,
        )

    # --- reads ------------------------------------------------------------------------------

    async def usage(self, task_id: str) -> tuple[Usage | None, str | None]:
        """The task's usage summed over its attempts (model and session of the latest), the
        running attempt's usage so far included."""
        runs = await self.repos.agent_runs.runs(task_id)
        live = self.live.get(task_id)
        if live is not None and all(r.attempt != live[0] for r in runs):
            runs = [*runs, self._as_run(task_id, *live)]
        if not runs:
            return None, None
        total = Usage(
            input_tokens=sum(r.input_tokens for r in runs),
            output_tokens=sum(r.output_tokens for r in runs),
            cache_read_tokens=sum(r.cache_read_tokens for r in runs),
            cache_write_tokens=sum(r.cache_write_tokens for r in runs),
            cost_usd=round(sum(r.cost_usd for r in runs), 8),
            turns=sum(r.turns for r in runs),
            model=runs[-1].model,
        )
        session = next((r.session_id for r in reversed(runs) if r.session_id), None)
        return total, session

    async def usage_of(self, task_ids: list[str]) -> dict[str, Usage]:
        """The usage of each listed task that has agent runs, as ``usage`` sums it (running
        attempts' usage so far included), read for all of them at once (a list page)."""
        stored = await self.repos.agent_runs.usage_by_task(task_ids)
        out = {task_id: usage for task_id, (_, usage) in stored.items()}
        for task_id in task_ids:
            live = self.live.get(task_id)
            if live is None:
                continue
            attempt, now = live
            last, before = stored.get(task_id, (0, None))
            if attempt > last:  # not stored yet: it is still running
                out[task_id] = now if before is None else _plus(before, now)
        return out

    def _as_run(self, task_id: str, attempt: int, usage: Usage) -> AgentRun:
        return AgentRun(
            task_id=task_id,
            attempt=attempt,
            model=usage.model,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cache_read_tokens=usage.cache_read_tokens,
            cache_write_tokens=usage.cache_write_tokens,
            cost_usd=float(usage.cost_usd or 0.0),
            cost_source="price_table",
            turns=usage.turns,
            finished_at=utcnow(),
        )

    async def transcript(
        self, task_id: str, after: tuple[int, int] = (0, 0), limit: int = 10_000
    ) -> list[StoredTranscriptItem]:
        """Stored items after the (attempt, seq) position."""
        return await self.repos.agent_runs.transcript(task_id, after[0], after[1], limit)

    async def changes(self, task_id: str) -> ChangesOut:
        found = await self.repos.agent_runs.changes(task_id)
        if found is None:
            return ChangesOut(task_id=task_id)
        return ChangesOut(**found.model_dump(exclude={"root"}))

    async def follow(
        self, task_id: str, after: tuple[int, int], interval: float
    ) -> AsyncIterator[StoredTranscriptItem]:
        """Stored items after ``after`` as they land, until the task has ended and its last
        items are stored (the task's final row is written with them, in one write)."""
        position = after
        while True:
            settled = await self._settled(task_id)
            items = await self.transcript(task_id, position)
            for item in items:
                position = (item.attempt, item.seq)
                yield item
            if settled and not items:
                return
            if not items:
                await asyncio.sleep(interval)

    async def _settled(self, task_id: str) -> bool:
        stored_task = await self.repos.tasks.get(task_id)
        return stored_task is not None and stored_task.state.terminal


def _plus(before: Usage, running: Usage) -> Usage:
    """Stored attempts' usage with the running attempt's so far (its model is the latest)."""
    return Usage(
        input_tokens=before.input_tokens + running.input_tokens,
        output_tokens=before.output_tokens + running.output_tokens,
        cache_read_tokens=before.cache_read_tokens + running.cache_read_tokens,
        cache_write_tokens=before.cache_write_tokens + running.cache_write_tokens,
        cost_usd=round(float(before.cost_usd or 0.0) + float(running.cost_usd or 0.0), 8),
        turns=before.turns + running.turns,
        model=running.model or before.model,
    )
