"""The worker's task table: accept, run, cancel, drain, and recover after a restart.

Idempotency is on (task_id, attempt): the entry is in the table before the first ``await``
of a submission, so a repeated or concurrent POST finds it and never starts a second
process. A no-op without sleep is final inline and touches no disk (the benchmarked path).
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from agency.errors import Conflict, InvalidSpec, NotFound, ServiceUnavailable, WorkerFull
from agency.models import (
    TASK_KINDS,
    AgentSpec,
    NoopSpec,
    ShellSpec,
    TranscriptPage,
    WorkerOutput,
    WorkerStatus,
    WorkerTaskRequest,
    WorkerTaskState,
    WorkerTaskStatus,
    WorkspaceChanges,
    __version__,
    parse_spec,
    utcnow,
)
from agency.worker import capture, changes, prepare, recovery, secrets, transcript
from agency.worker.config import WorkerConfig
from agency.worker.runner import NoopRun, ProcessRun, ProcessSpec, Run
from agency.worker.sandbox import Sandbox, denied_error, is_within
from agency.worker.sessions import SessionEntry, SessionStore
from agency.worker.store import TaskRecord, TaskStore, task_key

log = logging.getLogger(__name__)

FINISHED_KEPT = 20_000
Reporter = Callable[[WorkerTaskStatus], None]


class WorkerRuntime:
    """Runs the tasks of one worker; the HTTP app is a thin layer over it."""

    def __init__(
        self,
        config: WorkerConfig,
        sandbox: Sandbox,
        report: Reporter | None = None,
        keystore: secrets.KeystoreFactory | None = None,
    ) -> None:
        self.config = config
        self.sandbox = sandbox
        self.report = report or (lambda status: None)
        self.keystore = keystore or secrets.lazy_keystore(config.settings)
        self.store = TaskStore(config.tasks_dir)
        self.sessions = SessionStore(config.sessions_file)
        self.active: dict[str, Run] = {}
        self.finished: OrderedDict[str, WorkerTaskStatus] = OrderedDict()
        self.latest: dict[str, int] = {}
        self.draining = False
        self.idle = asyncio.Event()
        self.idle.set()

    # --- queries ----------------------------------------------------------------------------

    def status(self) -> WorkerStatus:
        return WorkerStatus(
            id=self.config.id,
            version=__version__,
            kinds=list(TASK_KINDS),
            capacity=self.config.capacity,
            running=[run.status.task_id for run in self.active.values()],
            labels=self.config.labels,
            draining=self.draining,
            sandbox=self.sandbox.kind,
            sessions=self.sessions.ids(),
        )

    def lookup(self, task_id: str, attempt: int | None = None) -> WorkerTaskStatus:
        """The status of ``task_id`` (its latest attempt unless ``attempt`` is given)."""
        attempt = attempt if attempt is not None else self.latest.get(task_id)
        if attempt is not None:
            key = task_key(task_id, attempt)
            run = self.active.get(key)
            if run is not None:
                return run.status
            if key in self.finished:
                return self.finished[key]
            record = self.store.load(task_id, attempt)
        else:
            record = self.store.latest(task_id)
        if record is None:
            raise NotFound(
                f"task {task_id!r} is unknown to worker {self.config.id}",
                details={"task_id": task_id, "attempt": attempt},
            )
        return record.status

    def output(
        self, task_id: str, stream: str, offset: int, limit: int, attempt: int | None
    ) -> WorkerOutput:
        status = self.lookup(task_id, attempt)
        path = None
        if status.kind != "noop":
            path = self.config.output_dir / task_key(task_id, status.attempt) / stream
        return capture.read_output(task_id, stream, path, offset, limit, status.state.terminal)  # type: ignore[arg-type]

    def transcript(
        self, task_id: str, attempt: int | None, after: int, limit: int
    ) -> TranscriptPage:
        """The attempt's transcript items after seq ``after`` (none for shell and no-op tasks)."""
        status = self.lookup(task_id, attempt)
        path = None
        if status.kind == "agent":
            path = self.config.output_dir / task_key(task_id, status.attempt) / transcript.FILE
        page = transcript.read_page(
            task_id, status.attempt, path, after, limit, status.state.terminal
        )
        page.usage = status.usage  # live: the parser's own object while the attempt runs
        return page

    def changes(self, task_id: str, attempt: int | None) -> WorkspaceChanges:
        """What the attempt changed in its workspace, recorded once its processes are gone."""
        status = self.lookup(task_id, attempt)
        if not status.state.terminal:
            raise Conflict(
                f"task {task_id!r} attempt {status.attempt} is still {status.state.value}: "
                "its changes are recorded when it ends",
                details={"task_id": task_id, "attempt": status.attempt},
            )
        path = self.config.output_dir / task_key(task_id, status.attempt) / changes.FILE
        try:
            return WorkspaceChanges.model_validate_json(path.read_bytes())
        except FileNotFoundError:
            raise NotFound(
                f"no changes recorded for task {task_id!r} attempt {status.attempt} "
                "(no process ran, or the worker restarted during it)",
                details={"task_id": task_id, "attempt": status.attempt},
            ) from None

    # --- submission -------------------------------------------------------------------------

    async def submit(self, req: WorkerTaskRequest) -> tuple[WorkerTaskStatus, bool]:
        """Start (or find) the attempt; returns its status and whether this call created it."""
        key = task_key(req.task_id, req.attempt)
        existing = self._existing(key, req)
        if existing is not None:
            return existing, False
        spec = parse_spec(req.kind, req.spec)
        if self.draining:
            raise ServiceUnavailable(
                "worker is draining and accepts no new tasks", details={"worker_id": self.config.id}
            )
        status = WorkerTaskStatus(
            task_id=req.task_id,
            attempt=req.attempt,
            kind=req.kind,
            state=WorkerTaskState.RUNNING,
            started_at=utcnow(),
        )
        timeout = prepare.effective_timeout(
            getattr(spec, "timeout", None), _seconds_until(req.deadline)
        )
        if timeout is not None and timeout <= 0:
            return self._finish_inline(
                key, status, None, "deadline passed before the task started"
            ), True
        if isinstance(spec, NoopSpec) and spec.sleep == 0:
            return self._finish_inline(key, status, spec.exit_code), True
        if len(self.active) >= self.config.capacity:
            raise WorkerFull(
                f"worker {self.config.id} is full ({self.config.capacity} tasks running)",
                details={
                    "capacity": self.config.capacity,
                    "running": [r.status.task_id for r in self.active.values()],
                },
            )
        if isinstance(spec, NoopSpec):
            noop = NoopRun(status, self._changed, timeout, spec.sleep, spec.exit_code)
            self._admit(key, noop)
            noop.start()
            return status, True
        assert isinstance(spec, ShellSpec | AgentSpec)
        return await self._start_process(key, req, spec, status, timeout), True

    def _existing(self, key: str, req: WorkerTaskRequest) -> WorkerTaskStatus | None:
        run = self.active.get(key)
        if run is not None:
            return run.status
        if key in self.finished:
            return self.finished[key]
        if req.kind == "noop":
            return None
        record = self.store.load(req.task_id, req.attempt)
        return record.status if record else None

    def _finish_inline(
        self, key: str, status: WorkerTaskStatus, exit_code: int | None, reason: str | None = None
    ) -> WorkerTaskStatus:
        """Final at once, without a process: a no-op without sleep, or a deadline already past.

        Not pushed as a report: the answer to the submit carries it. Should that answer be
        lost, the control plane holds the attempt in doubt and asks ``GET /task/{id}``,
        which finds it here; a report as well would cost the control plane a second request
        per task for nothing.
        """
        status.exit_code = exit_code
        status.state = WorkerTaskState.SUCCEEDED if exit_code == 0 else WorkerTaskState.FAILED
        status.reason = reason or (None if exit_code == 0 else f"exit code {exit_code}")
        status.finished_at = status.started_at
        self.latest[status.task_id] = status.attempt
        self._remember(key, status)
        return status

    async def _start_process(
        self,
        key: str,
        req: WorkerTaskRequest,
        spec: ShellSpec | AgentSpec,
        status: WorkerTaskStatus,
        timeout: float | None,
    ) -> WorkerTaskStatus:
        if self.sandbox.refuses_processes:
            raise ServiceUnavailable(
                f"AGENCY_SANDBOX=required but bubblewrap does not work here: {self.sandbox.unavailable_reason}",
                details={"sandbox": self.sandbox.kind, "reason": self.sandbox.unavailable_reason},
            )
        plan = prepare.plan(spec, self.config.settings)
        workspace, cwd_raw = self._workspace(key, spec, plan)
        denials = self.sandbox.check(
            workspace, [p for p in (cwd_raw, *plan.files) if p is not None]
        )
        if denials:
            status.state, status.reason = WorkerTaskState.FAILED, "sandbox denied"
            status.denials = [d.as_dict() for d in denials]
            status.finished_at = utcnow()
            self.latest[req.task_id] = req.attempt
            self._remember(key, status)
            self.store.save(TaskRecord(status=status))
            self.report(status)
            raise denied_error(denials, self.config.roots)
        fresh = not workspace.exists()
        cwd = prepare_dirs(workspace, cwd_raw)
        files = [prepare_path(workspace, f) for f in plan.files]
        argv = self.sandbox.wrap(plan.argv, workspace, cwd, files)
        output_dir = self.config.output_dir / key
        pspec = ProcessSpec(
            argv=argv,
            env={
                **prepare.minimal_env(workspace, req.task_id, req.attempt),
                **prepare.agency_env(self.config.control_plane, req.agency_token),
                **plan.env,  # the spec's own env wins: an explicit choice of its submitter
            },
            cwd=cwd,
            workspace=workspace,
            output_dir=output_dir,
            spare=self.sandbox.process_name,
        )
        agent = plan.agent
        writer = None
        if agent is not None:
            status.runtime = agent.runtime
            if agent.parser is not None:
                writer = transcript.TranscriptWriter(
                    output_dir / transcript.FILE, req.attempt, agent.parser
                )
        tracker = changes.ChangeTracker(
            req.task_id,
            req.attempt,
            workspace,
            cwd,
            self.config.roots,
            self.config.settings.changes_max_bytes,
            output_dir / "git-scratch",
            self.sandbox.wrap,
        )
        run = ProcessRun(
            status,
            self._changed,
            timeout,
            self.config.settings.cancel_grace,
            pspec,
            transcript=writer,
            budget=agent.budget if agent is not None else None,
            changes=tracker,
        )
        self._admit(key, run)  # before any await: a concurrent repeat finds it
        if secrets.needs_secrets(plan.env):
            try:
                pspec.env, pspec.redactor = await asyncio.to_thread(
                    secrets.resolve_task_env, pspec.env, self.keystore
                )
            except BaseException:
                self.active.pop(key, None)
                if not self.active:
                    self.idle.set()
                raise
        await tracker.start(fresh)
        await run.start()
        return status

    def _workspace(
        self, key: str, spec: ShellSpec | AgentSpec, plan: prepare.Plan
    ) -> tuple[Path, str | None]:
        """The attempt's workspace and cwd: its own, or those of the session it resumes."""
        own, cwd = self.config.workspace_root / key, plan.cwd
        if not isinstance(spec, AgentSpec) or not spec.session_id or plan.agent is None:
            return own, cwd
        entry = self.sessions.get(spec.session_id)
        if entry is None:
            return own, cwd  # not ours: the runtime may still know it, and says if not
        if entry.runtime != plan.agent.runtime:
            raise InvalidSpec(
                f"session {spec.session_id!r} is a {entry.runtime} session, "
                f"not one of runtime {plan.agent.runtime}",
                details={"session_id": spec.session_id, "runtime": entry.runtime},
            )
        workspace = Path(entry.workspace).resolve()
        if not workspace.is_dir() or not is_within(workspace, self.config.roots):
            return own, cwd
        for run in self.active.values():
            if isinstance(run, ProcessRun) and run.spec.workspace == workspace:
                raise Conflict(
                    f"session {spec.session_id!r} is in use by task {run.status.task_id!r}",
                    details={"session_id": spec.session_id, "task_id": run.status.task_id},
                )
        return workspace, cwd if cwd is not None else entry.cwd

    def _admit(self, key: str, run: Run) -> None:
        self.active[key] = run
        self.latest[run.status.task_id] = run.status.attempt
        self.idle.clear()

    # --- state changes ----------------------------------------------------------------------

    def _changed(self, run: Run) -> None:
        status = run.status
        key = task_key(status.task_id, status.attempt)
        if isinstance(run, ProcessRun):
            self.store.save(TaskRecord(status=status, pgid=run.pgid, pid_start=run.pid_start))
            if status.session_id:
                self._hold_session(status.session_id, run)
        if status.state.terminal and self.active.pop(key, None) is not None:
            self._remember(key, status)
            if not self.active:
                self.idle.set()
        self.report(status.model_copy(deep=True))

    def _hold_session(self, session_id: str, run: ProcessRun) -> None:
        status, spec = run.status, run.spec
        held = self.sessions.get(session_id)
        if held and (held.task_id, held.attempt) == (status.task_id, status.attempt):
            return
        cwd = (
            str(spec.cwd.relative_to(spec.workspace))
            if spec.cwd.is_relative_to(spec.workspace)
            else str(spec.cwd)
        )
        entry = SessionEntry(
            workspace=str(spec.workspace),
            cwd=None if cwd == "." else cwd,
            runtime=status.runtime or "command",
            task_id=status.task_id,
            attempt=status.attempt,
        )
        try:
            self.sessions.record(session_id, entry)
        except OSError as exc:  # the run goes on; only a later resume would miss the workspace
            log.error("session %s: cannot record its workspace: %s", session_id, exc)

    def _remember(self, key: str, status: WorkerTaskStatus) -> None:
        self.finished[key] = status
        while len(self.finished) > FINISHED_KEPT:
            self.finished.popitem(last=False)

    async def recover(self) -> list[WorkerTaskStatus]:
        """After a restart: attempts that were in flight become ``lost`` (and are reported)."""
        lost = await recovery.recover(self.store, self.config.settings.cancel_grace)
        for status in lost:
            self.latest[status.task_id] = max(status.attempt, self.latest.get(status.task_id, 0))
            self._remember(task_key(status.task_id, status.attempt), status)
            self.report(status)
        return lost

    # --- cancel and drain -------------------------------------------------------------------

    async def cancel(self, task_id: str, attempt: int | None = None) -> WorkerTaskStatus:
        status = self.lookup(task_id, attempt)
        run = self.active.get(task_key(task_id, status.attempt))
        if run is not None:
            run.cancel()
        return status

    def begin_drain(self, cancel: bool) -> None:
        """Stop accepting tasks; cancel the running ones if asked (``idle`` is set once none run)."""
        self.draining = True
        if cancel:
            for run in list(self.active.values()):
                run.cancel()

    async def drain(self, cancel: bool) -> None:
        """Stop accepting; cancel running work if asked; return when nothing runs."""
        self.begin_drain(cancel)
        await self.idle.wait()


def _seconds_until(deadline: datetime | None) -> float | None:
    if deadline is None:
        return None
    if deadline.tzinfo is None:  # a naive deadline is taken as UTC, like every stored time
        deadline = deadline.replace(tzinfo=UTC)
    return (deadline - utcnow()).total_seconds()


def prepare_path(workspace: Path, raw: str) -> Path:
    return (workspace / raw).resolve(strict=False)


def prepare_dirs(workspace: Path, cwd: str | None) -> Path:
    """Create the workspace (and a missing cwd inside the roots) and return the resolved cwd."""
    workspace.mkdir(parents=True, exist_ok=True)
    target = prepare_path(workspace, cwd) if cwd else workspace
    target.mkdir(parents=True, exist_ok=True)
    return target
