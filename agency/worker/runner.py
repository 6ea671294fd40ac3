"""Run one task attempt: a process group (shell, agent) or an in-loop no-op with a sleep.

A run owns its ``WorkerTaskStatus`` and calls ``on_change`` after every state change (the
runtime persists and reports it). Cancel, the deadline and a budget stop take the same path:
SIGTERM to the group, SIGKILL after the grace period, and the final state only once the group
is gone. An agent's stdout also feeds its transcript (which is where a budget stop comes
from), and every process attempt ends with a record of what it changed in its workspace.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agency.models import WorkerTaskState, WorkerTaskStatus, utcnow
from agency.security.redaction import Redactor
from agency.worker import capture, procs
from agency.worker.agents import Budget
from agency.worker.changes import FILE as CHANGES_FILE
from agency.worker.changes import ChangeTracker
from agency.worker.transcript import TranscriptWriter

log = logging.getLogger(__name__)

MAX_CHANGED_FILES = 1000
PUMP_DRAIN_TIMEOUT = 5.0


def describe_exit(code: int) -> str:
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = str(-code)
        return f"killed by signal {name}"
    return f"exit code {code}"


def list_files(root: Path, limit: int = MAX_CHANGED_FILES) -> list[str]:
    """Files under the workspace (relative), at most ``limit``: what the task left behind."""
    found: list[str] = []
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            found.append(str(Path(dirpath, name).relative_to(root)))
            if len(found) >= limit:
                return sorted(found)
    return sorted(found)


class Run:
    """One task attempt in flight; subclasses say how it runs and how it stops."""

    def __init__(
        self,
        status: WorkerTaskStatus,
        on_change: Callable[[Run], None],
        timeout: float | None,
        grace: float,
    ) -> None:
        self.status = status
        self.on_change = on_change
        self.timeout = timeout
        self.grace = grace
        self.cancel_requested = asyncio.Event()
        self.stop_reason: str | None = None
        self.done = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    def set_state(
        self, state: WorkerTaskState, reason: str | None = None, exit_code: int | None = None
    ) -> None:
        self.status.state = state
        if reason is not None:
            self.status.reason = reason
        if exit_code is not None:
            self.status.exit_code = exit_code
        if state.terminal:
            self.status.finished_at = utcnow()
        self.on_change(self)
        if state.terminal:
            self.done.set()

    def cancel(self) -> None:
        """Ask the run to stop; idempotent, and a no-op once it is final."""
        if self.status.state is WorkerTaskState.RUNNING:
            self.set_state(WorkerTaskState.CANCELING, reason="cancel requested")
            self.cancel_requested.set()

    def stop(self, reason: str) -> None:
        """Stop the run on the worker's own account (a budget): it ends ``failed``, ``reason``
        first in its reason. Same kill path as a cancel, but not a cancel: the state stays
        ``running`` until the processes are gone (a cancel that came first wins)."""
        if self.status.state is WorkerTaskState.RUNNING and self.stop_reason is None:
            self.stop_reason = reason
            self.status.reason = f"{reason}; stopping"
            self.on_change(self)
            self.cancel_requested.set()

    def launch(self, body: Coroutine[object, object, None]) -> None:
        """Run ``body`` (the subclass's supervision) in the background."""
        self.task = asyncio.get_running_loop().create_task(self._guarded(body))

    async def _guarded(self, body: Coroutine[object, object, None]) -> None:
        try:
            await body
        except Exception as exc:  # a bug or an OS error must still end the task visibly
            log.exception("task %s: supervision failed", self.status.task_id)
            if not self.status.state.terminal:
                self.set_state(WorkerTaskState.FAILED, reason=f"worker error: {exc}")

    async def _until_end_or_cancel(self, waiter: asyncio.Future[Any]) -> str:
        """``"exit"``, ``"cancel"`` or ``"deadline"``: whichever comes first."""
        cancel: asyncio.Future[Any] = asyncio.ensure_future(self.cancel_requested.wait())
        try:
            done, _ = await asyncio.wait(
                {waiter, cancel}, timeout=self.timeout, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            cancel.cancel()
        if waiter in done:
            return "exit"
        return "cancel" if cancel in done or self.cancel_requested.is_set() else "deadline"


class NoopRun(Run):
    """A no-op that sleeps in the event loop: occupies a slot, obeys cancel, starts nothing."""

    def __init__(
        self,
        status: WorkerTaskStatus,
        on_change: Callable[[Run], None],
        timeout: float | None,
        sleep: float,
        exit_code: int,
    ) -> None:
        super().__init__(status, on_change, timeout, grace=0.0)
        self.sleep = sleep
        self.exit_code = exit_code

    def start(self) -> None:
        self.launch(self._supervise())

    async def _supervise(self) -> None:
        sleeper = asyncio.ensure_future(asyncio.sleep(self.sleep))
        outcome = await self._until_end_or_cancel(sleeper)
        sleeper.cancel()
        if outcome == "exit":
            final = WorkerTaskState.SUCCEEDED if self.exit_code == 0 else WorkerTaskState.FAILED
            self.set_state(
                final,
                reason=None if self.exit_code == 0 else describe_exit(self.exit_code),
                exit_code=self.exit_code,
            )
        elif outcome == "cancel":
            self.set_state(WorkerTaskState.CANCELED, reason="canceled")
        else:
            self.set_state(
                WorkerTaskState.FAILED, reason=f"deadline exceeded after {self.timeout:.3g}s"
            )


@dataclass
class ProcessSpec:
    """Everything needed to start the process of a shell or agent task."""

    argv: list[str]
    env: dict[str, str]
    cwd: Path
    workspace: Path
    output_dir: Path
    redactor: Redactor | None = None
    spare: str | None = None  # process name spared the SIGTERM (the sandbox's own)


class ProcessRun(Run):
    """A process in its own session (so its own process group), output pumped to files."""

    def __init__(
        self,
        status: WorkerTaskStatus,
        on_change: Callable[[Run], None],
        timeout: float | None,
        grace: float,
        spec: ProcessSpec,
        transcript: TranscriptWriter | None = None,
        budget: Budget | None = None,
        changes: ChangeTracker | None = None,
    ) -> None:
        super().__init__(status, on_change, timeout, grace)
        self.spec = spec
        self.proc: asyncio.subprocess.Process | None = None
        self.pgid: int | None = None
        self.pid_start: int | None = None
        self.pumps: list[asyncio.Task[int]] = []
        self.transcript = transcript
        self.budget = budget
        self.changes = changes
        if transcript is not None:
            transcript.on_items = self._transcript_grew
            status.usage = transcript.parser.usage  # the same object: live in GET /task

    async def start(self) -> None:
        """Spawn the process; a program that cannot start fails the task (no exception)."""
        self.spec.output_dir.mkdir(parents=True, exist_ok=True)
        try:
            self.proc = await asyncio.create_subprocess_exec(
                *self.spec.argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                cwd=self.spec.cwd,
                env=self.spec.env,
                start_new_session=True,
            )
        except OSError as exc:
            (self.spec.output_dir / "stderr").write_text(
                f"cannot start {self.spec.argv[0]!r}: {exc}\n"
            )
            if self.changes is not None:
                self.changes.discard()
            if self.transcript is not None:
                self.transcript.close()
            self.set_state(
                WorkerTaskState.FAILED,
                reason=f"cannot start {self.spec.argv[0]!r}: {exc.strerror or exc}",
                exit_code=127,
            )
            return
        self.pgid = self.proc.pid
        self.pid_start = procs.start_time(self.proc.pid)
        self.status.pid = self.proc.pid
        self.status.started_at = utcnow()
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self.pumps = [
            asyncio.ensure_future(
                capture.pump(
                    self.proc.stdout,
                    self.spec.output_dir / "stdout",
                    self.spec.redactor,
                    self._feed_transcript if self.transcript is not None else None,
                )
            ),
            asyncio.ensure_future(
                capture.pump(self.proc.stderr, self.spec.output_dir / "stderr", self.spec.redactor)
            ),
        ]
        self.on_change(self)
        self.launch(self._supervise())

    async def _supervise(self) -> None:
        assert self.proc is not None and self.pgid is not None
        waiter = asyncio.ensure_future(self.proc.wait())
        outcome = await self._until_end_or_cancel(waiter)
        started = time.monotonic()
        # whatever ended it, nothing of the group may outlive the task (a leader that exits
        # can leave background children behind, holding the output pipes open)
        gone = await procs.stop_group(self.pgid, self.grace, self.spec.spare)
        code = await waiter
        took = time.monotonic() - started
        await self._drain_pumps()
        if self.transcript is not None:
            self._guard(self.transcript.close)
        self.status.changed_files = await asyncio.to_thread(list_files, self.spec.workspace)
        self.status.workspace = str(self.spec.workspace)
        if self.changes is not None:
            await self._record_changes(self.changes)
        if not gone:
            self.set_state(
                WorkerTaskState.FAILED,
                reason="processes of the task did not exit after SIGKILL",
                exit_code=code,
            )
        elif self.stop_reason is not None:
            after = f"; process group gone after {took:.2f}s" if outcome != "exit" else ""
            self.set_state(WorkerTaskState.FAILED, reason=self.stop_reason + after, exit_code=code)
        elif outcome == "exit":
            final = WorkerTaskState.SUCCEEDED if code == 0 else WorkerTaskState.FAILED
            self.set_state(final, reason=None if code == 0 else describe_exit(code), exit_code=code)
        elif outcome == "cancel":
            self.set_state(
                WorkerTaskState.CANCELED,
                reason=f"canceled; process group gone after {took:.2f}s",
                exit_code=code,
            )
        else:
            self.set_state(
                WorkerTaskState.FAILED,
                reason=f"deadline exceeded after {self.timeout:.3g}s",
                exit_code=code,
            )

    async def _record_changes(self, changes: ChangeTracker) -> None:
        try:
            record = await changes.finish()
            (self.spec.output_dir / CHANGES_FILE).write_text(record.model_dump_json())
        except Exception:  # what changed is a record of the task, never a reason it fails
            log.exception("task %s: changes not recorded", self.status.task_id)

    def _feed_transcript(self, text: str) -> None:
        if self.transcript is not None:
            self._guard(self.transcript.feed, text)

    def _guard(self, call: Callable[..., None], *args: str) -> None:
        """A transcript bug must not stop the output capture, nor the task: log, then drop it."""
        try:
            call(*args)
        except Exception:
            log.exception(
                "task %s: transcript parsing failed; kept as output only", self.status.task_id
            )
            self.transcript = None

    def _transcript_grew(self) -> None:
        """New items: publish a new session id, and stop the run past its budget."""
        if self.transcript is None:
            return
        parser = self.transcript.parser
        if parser.session_id and parser.session_id != self.status.session_id:
            self.status.session_id = parser.session_id
            self.on_change(self)  # persisted and reported: the session is resumable from now
        reason = self.budget.exceeded(parser) if self.budget is not None else None
        if reason is not None:
            self.stop(reason)

    async def _drain_pumps(self) -> None:
        if not self.pumps:
            return
        _, pending = await asyncio.wait(self.pumps, timeout=PUMP_DRAIN_TIMEOUT)
        for task in pending:
            task.cancel()
        for task in self.pumps:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
