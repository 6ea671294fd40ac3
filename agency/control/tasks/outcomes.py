"""What a worker's answer means for a task: running, finished, failed and retried, orphaned.

``Outcomes.apply`` is the single entry for a ``WorkerTaskStatus``, whether it came from the
dispatch answer, a pushed report or a poll; duplicates (the same final status by two paths)
are applied once. Failures and orphans go through the task's retry policy here.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from agency.control.tasks.book import Book, Op, Step
from agency.control.tasks.denials import denial_event, denial_reason
from agency.control.tasks.gates import Gates
from agency.control.tasks.lifecycle import change, effective_deadline
from agency.control.tasks.runs import RunRecorder
from agency.errors import AgencyError
from agency.fleet import Registry
from agency.models import (
    OutputChunk,
    Task,
    TaskState,
    WorkerTaskState,
    WorkerTaskStatus,
    utcnow,
)
from agency.models.runs import BUDGET_EXCEEDED, BUDGET_WAIT

log = logging.getLogger("agency.orchestrator")

DEADLINE = "deadline"
UNREACHABLE = "worker-unreachable"
_SLACK = timedelta(milliseconds=50)  # clocks of worker and control plane on one host
_OUTPUT_PAGES = 256  # most pages of one stream fetched when a task ends (bounded loop)


def changed_paths(status: WorkerTaskStatus) -> list[str]:
    """The changed files as absolute paths (the worker lists them relative to its workspace)."""
    if status.workspace is None:
        return list(status.changed_files)
    return [str(Path(status.workspace, f)) for f in status.changed_files]


def ended_cancel(
    task: Task, reason: str, actor: str = "system", extra: dict[str, Any] | None = None
) -> tuple[Task, Any]:
    """A cancel under way ends without the worker's word: canceled, or failed for a deadline."""
    if task.reason == DEADLINE:
        return change(task, TaskState.FAILED, actor=actor, reason=DEADLINE, extra=extra)
    return change(task, TaskState.CANCELED, actor=actor, reason=reason, extra=extra)


class Outcomes:
    """Applies worker answers and the retry policy; owns the 'finishing' guard."""

    def __init__(self, book: Book, registry: Registry, gates: Gates, runs: RunRecorder) -> None:
        self.book = book
        self.registry = registry
        self.gates = gates
        self.runs = runs
        self._finishing: set[str] = set()
        #: (worker id, task id) of attempts that must not run: canceled on sight
        self.strays: set[tuple[str, str]] = set()

    def retry_step(self, task: Task, actor: str, why: str) -> Step:
        """After a failed/orphaned ``task``: back to pending with backoff, or failed for good."""
        if task.retry.exhausted(task.attempt):
            new, ev = change(task, TaskState.FAILED, actor=actor, reason=f"{why}; no attempts left")
            return Step(task, new, ev)
        delay = task.retry.delay(task.attempt)
        new, ev = change(
            task,
            TaskState.PENDING,
            actor=actor,
            reason=f"retry: {why}",
            worker_id=None,
            not_before=utcnow() + timedelta(seconds=delay) if delay > 0 else None,
            exit_code=None,
            finished_at=None,
        )
        self.book.kpis.retries.inc()
        return Step(task, new, ev)

    async def orphan(
        self, task: Task, reason: str, actor: str = "system", *, maybe_alive: bool = True
    ) -> None:
        """The attempt's worker is gone or does not know it: orphaned, then the policy.

        ``maybe_alive`` (the worker could not be asked) keeps the retry off that worker and
        has the attempt canceled should the worker show it again.
        """
        if task.id in self._finishing or not task.state.in_flight:
            return
        if task.worker_id and maybe_alive:
            self.strays.add((task.worker_id, task.id))
        if task.state in (TaskState.CANCEL_REQUESTED, TaskState.CANCELING):
            # it was being canceled anyway: the cancel ends here, it is not retried
            new, ev = ended_cancel(
                task, UNREACHABLE, actor, extra={"cancel_reason": task.reason, "why": reason}
            )
            await self.book.commit([Step(task, new, ev)])
            return
        new, ev = change(task, TaskState.ORPHANED, actor=actor, reason=reason)
        steps = [Step(task, new, ev)]
        steps.append(self.retry_step(new, actor, f"orphaned ({reason})"))
        await self.book.commit(steps)

    async def apply(self, status: WorkerTaskStatus, worker_id: str) -> None:
        """Apply a worker's view of one attempt (report, poll or dispatch answer)."""
        task = self.book.get(status.task_id)
        if task is None or task.worker_id != worker_id or task.attempt != status.attempt:
            # not the attempt we track: an old or misplaced one must not keep running
            if not status.state.terminal and (
                task is None or task.worker_id != worker_id or task.attempt != status.attempt
            ):
                self.strays.add((worker_id, status.task_id))
            return
        if not task.state.in_flight or task.id in self._finishing:
            return
        self.book.flying[task.id] = time.monotonic()
        if status.state is WorkerTaskState.RUNNING:
            if task.state is TaskState.DISPATCHED:
                new, ev = change(
                    task,
                    TaskState.RUNNING,
                    actor=worker_id,
                    started_at=status.started_at or utcnow(),
                )
                await self.book.commit([Step(task, new, ev)])
        elif status.state is WorkerTaskState.CANCELING:
            if task.state is TaskState.CANCEL_REQUESTED:
                new, ev = change(task, TaskState.CANCELING, actor=worker_id, reason=task.reason)
                await self.book.commit([Step(task, new, ev)])
        else:
            await self._finish(task, status, worker_id)

    def finishing(self, task_id: str) -> bool:
        """Whether a worker's final answer for ``task_id`` is being applied right now."""
        return task_id in self._finishing

    async def _finish(self, task: Task, status: WorkerTaskStatus, worker_id: str) -> None:
        self._finishing.add(task.id)
        try:
            if status.state is WorkerTaskState.LOST:
                self._finishing.discard(task.id)
                await self.orphan(
                    task,
                    f"lost: {status.reason or 'the worker lost the process'}",
                    maybe_alive=False,
                )
                return
            extra = await self._output(task, worker_id)
            extra += await self.runs.final_ops(task, status, worker_id)
            # it may have moved while output was read: ended by another path (the dispatch
            # answer of a denied spec), or orphaned and placed again as a new attempt
            current = self.book.get(task.id)
            if (
                current is None
                or not current.state.in_flight
                or current.attempt != task.attempt
                or current.worker_id != worker_id
            ):
                return
            task = current
            steps = await self._final_steps(task, status, worker_id)
            if status.denials and status.state is WorkerTaskState.FAILED:
                extra.append(denial_event(task, worker_id, status.denials))
            await self.book.commit(steps, extra)
        finally:
            self._finishing.discard(task.id)

    async def _final_steps(
        self, task: Task, status: WorkerTaskStatus, worker_id: str
    ) -> list[Step]:
        common: dict[str, Any] = {
            "exit_code": status.exit_code,
            "finished_at": status.finished_at or utcnow(),
        }
        deadline_hit = task.reason == DEADLINE and task.state in (
            TaskState.CANCEL_REQUESTED,
            TaskState.CANCELING,
        )
        if status.state is WorkerTaskState.FAILED and not deadline_hit:
            # the worker enforces the deadline it was given: a failure past it is that
            ends = effective_deadline(task)
            deadline_hit = ends is not None and (status.finished_at or utcnow()) >= ends - _SLACK
        if status.state is WorkerTaskState.SUCCEEDED:
            verdict = await self.gates.evaluate(task, changed_paths(status))
            if verdict is not None and verdict.verdict == "changes_requested":
                new, ev = change(
                    task,
                    TaskState.REJECTED,
                    actor=worker_id,
                    reason=verdict.summary,
                    verdict=verdict.verdict,
                    extra={"findings": [f.model_dump(mode="json") for f in verdict.findings]},
                    **common,
                )
            else:
                new, ev = change(
                    task,
                    TaskState.SUCCEEDED,
                    actor=worker_id,
                    verdict=verdict.verdict if verdict else None,
                    reason=verdict.summary if verdict else None,
                    **common,
                )
            return [Step(task, new, ev)]
        if status.state is WorkerTaskState.CANCELED:
            if deadline_hit:
                new, ev = change(task, TaskState.FAILED, actor="system", reason=DEADLINE, **common)
                return [Step(task, new, ev)]
            if task.state in (TaskState.CANCEL_REQUESTED, TaskState.CANCELING):
                new, ev = change(
                    task, TaskState.CANCELED, actor=worker_id, reason=task.reason, **common
                )
                return [Step(task, new, ev)]
            # the worker stopped it on its own (shutdown): not a result, so the policy decides
            new, ev = change(
                task,
                TaskState.ORPHANED,
                actor=worker_id,
                reason=f"canceled by the worker: {status.reason or 'no reason'}",
            )
            return [Step(task, new, ev), self.retry_step(new, "system", "canceled by the worker")]
        why = DEADLINE if deadline_hit else (status.reason or f"exit code {status.exit_code}")
        if status.denials:
            why = denial_reason(status.denials)
        over_budget = why.startswith(BUDGET_EXCEEDED)
        if (
            over_budget
            and task.kind == "agent"
            and task.spec.get("on_budget") == "pause"
            and task.state in (TaskState.DISPATCHED, TaskState.RUNNING)
        ):
            # held, not failed: an operator's audited resume lets it go on (actions.py)
            new, ev = change(
                task,
                TaskState.PAUSED,
                actor=worker_id,
                reason=why,
                waiting_for=[BUDGET_WAIT],
                extra={"on_budget": "pause"},
                **common,
            )
            return [Step(task, new, ev)]
        # a denied spec is denied again on every attempt, a spent budget is spent: no retry
        retryable = (
            not deadline_hit
            and not status.denials
            and not over_budget
            and task.state in (TaskState.DISPATCHED, TaskState.RUNNING)
        )
        if retryable and task.retry.exhausted(task.attempt):
            why, retryable = f"{why}; no attempts left", False
        new, ev = change(task, TaskState.FAILED, actor=worker_id, reason=why, **common)
        steps = [Step(task, new, ev)]
        if retryable:
            steps.append(self.retry_step(new, "system", why))
        return steps

    async def _output(self, task: Task, worker_id: str) -> list[Op]:
        """The attempt's stdout and stderr from the worker, as rows to store with the result."""
        if task.kind == "noop":
            return []  # noop tasks print nothing: skip two round-trips per task
        chunks: list[OutputChunk] = []
        try:
            client = self.registry.client(worker_id)
            for stream in ("stdout", "stderr"):
                offset = 0
                for _ in range(_OUTPUT_PAGES):
                    out = await client.output(task.id, stream, offset)
                    if out.data:
                        chunks.append(
                            OutputChunk(
                                task_id=task.id,
                                attempt=task.attempt,
                                stream=stream,
                                offset=out.offset,
                                data=out.data,
                            )
                        )
                    if out.eof or out.next_offset <= offset:
                        break
                    offset = out.next_offset
        except AgencyError as exc:
            log.warning("output of %s from %s not stored: %s", task.id, worker_id, exc)
        return self.book.repos.tasks.output(chunks)
