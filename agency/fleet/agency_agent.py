"""``AgencyAgentClient``: an ``ag-agent-claude`` (alan-phobos-org/agency) driven as a worker.

The agent speaks its own small protocol (see /work/shared/agency-agent/PROTOCOL.md): HTTPS
with a self-signed certificate, no auth, one task at a time, ``POST /task`` answering
``409 agent_busy`` while it works, ids of its own making, and ``GET /task/{id}`` changing
shape once the task moves to its history. This client maps agency's worker calls onto it, so
the orchestrator's retries, breaker, polling, cancel and orphan rules apply unchanged:

* ``submit`` -> ``POST /task {prompt, tier, timeout_seconds, session_id, env}``; the agent's
  task id is remembered per agency task, and handed to ``on_link`` (the control plane stores
  it, table ``agent_links``) before the dispatch counts as done, so a restarted control plane
  ``restore``s it and polls the agent's task again instead of orphaning the attempt;
* a 409 busy right after a task ended (the agent turns the task terminal a moment before it
  is idle) is retried for a second; a lasting one is ``WorkerFull``, so the task goes back to
  pending with its attempt given back, and the agent is left alone for a short while;
* ``task_status`` reads either shape: states map to agency's, ``token_usage`` and
  ``session_id`` to usage and session, ``error.type`` to the reason;
* ``cancel`` -> ``POST /task/{id}/cancel``; a 404 or 409 there means the task already ended;
* ``output`` serves the agent's ``output`` as stdout and its error message as stderr;
* once a task is over, its history's debug log (the CLI's stdout) gives the cost, turns,
  cache tokens and model the task answer lacks, and the transcript (``agent_history``).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from agency.errors import InvalidSpec, NotFound, WorkerError, WorkerFull, WorkerRejected
from agency.fleet.agent_history import read_debug
from agency.fleet.client import WorkerClient
from agency.models import (
    AgentLink,
    TranscriptItem,
    TranscriptPage,
    Usage,
    WorkerOutput,
    WorkerStatus,
    WorkerTaskRequest,
    WorkerTaskState,
    WorkerTaskStatus,
    WorkspaceChanges,
)

AGENT_KINDS = ["agent"]
STATES = {
    "queued": WorkerTaskState.RUNNING,
    "working": WorkerTaskState.RUNNING,
    "completed": WorkerTaskState.SUCCEEDED,
    "failed": WorkerTaskState.FAILED,
    "cancelled": WorkerTaskState.CANCELED,
}
# spec.model names the agent's tiers understand, by Claude model family
TIERS = {"haiku": "fast", "sonnet": "standard", "opus": "heavy"}
TIERS.update({tier: tier for tier in ("fast", "standard", "heavy")})
BUSY_RETRY_SECONDS = 1.5
BUSY_BACKOFF_SECONDS = 1.0
OnLink = Callable[[AgentLink], Awaitable[None]]


@dataclass
class _Run:
    """One agency attempt on the agent, and what its last answer said."""

    agent_task: str
    attempt: int
    kind: str
    last: WorkerTaskStatus
    output: str = ""
    error: str = ""
    history: tuple[Usage | None, list[TranscriptItem]] | None = None  # read once, when over


def agent_body(req: WorkerTaskRequest) -> dict[str, Any]:
    """The agent's ``POST /task`` body for an agency ``agent`` task."""
    if req.kind not in AGENT_KINDS:
        raise InvalidSpec(
            f"an agency-agent worker runs agent tasks only, not {req.kind!r}",
            details={"kind": req.kind},
        )
    spec = req.spec
    body: dict[str, Any] = {"prompt": spec.get("prompt", "")}
    model = spec.get("model")
    if isinstance(model, str):
        tier = next((t for name, t in TIERS.items() if name in model.lower()), None)
        if tier is not None:
            body["tier"] = tier
    timeout = spec.get("timeout")
    if isinstance(timeout, int | float) and timeout > 0:
        body["timeout_seconds"] = max(1, math.ceil(timeout))
    for key in ("session_id", "env"):
        if spec.get(key):
            body[key] = spec[key]
    return body


def _time(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


class AgencyAgentClient(WorkerClient):
    """A ``WorkerClient`` whose calls speak the ag-agent-claude protocol."""

    def __init__(self, *args: Any, on_link: OnLink | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.on_link = on_link
        self._runs: dict[str, _Run] = {}
        self._busy_until = 0.0
        self.agent_state: str | None = None
        self.current_task: str | None = None
        self.version: str = ""

    @property
    def available(self) -> bool:
        return super().available and time.monotonic() >= self._busy_until

    # --- tasks ----------------------------------------------------------------------------

    async def submit(self, req: WorkerTaskRequest) -> WorkerTaskStatus:
        run = self._runs.get(req.task_id)
        if run is not None and run.attempt == req.attempt:
            return run.last  # a retried dispatch of the same attempt: already running
        body = agent_body(req)
        give_up = time.monotonic() + BUSY_RETRY_SECONDS
        while True:
            try:
                _, answer = await self._call("POST", "/task", json=body, task_id=req.task_id)
                break
            except WorkerFull:
                if time.monotonic() >= give_up:
                    self._busy_until = time.monotonic() + BUSY_BACKOFF_SECONDS
                    raise
                await asyncio.sleep(0.1)
        if not isinstance(answer, dict) or not isinstance(answer.get("task_id"), str):
            raise WorkerError(
                f"agent {self.worker_id} answered POST /task without a task id",
                details={"worker": self.worker_id},
            )
        status = WorkerTaskStatus(
            task_id=req.task_id,
            attempt=req.attempt,
            kind=req.kind,
            state=WorkerTaskState.RUNNING,
            runtime="claude",
            session_id=answer.get("session_id") or None,
        )
        self._runs[req.task_id] = _Run(answer["task_id"], req.attempt, req.kind, status)
        if self.on_link is not None:
            link = AgentLink(
                task_id=req.task_id,
                attempt=req.attempt,
                worker_id=self.worker_id,
                agent_task=answer["task_id"],
                kind=req.kind,
                session_id=status.session_id,
            )
            await self.on_link(link)
        return status

    def restore(self, link: AgentLink) -> None:
        """Know an attempt started before a restart again: its next poll reads the agent's task."""
        status = WorkerTaskStatus(
            task_id=link.task_id,
            attempt=link.attempt,
            kind=link.kind,
            state=WorkerTaskState.RUNNING,
            runtime="claude",
            session_id=link.session_id,
        )
        self._runs[link.task_id] = _Run(link.agent_task, link.attempt, link.kind, status)

    async def task_status(self, task_id: str) -> WorkerTaskStatus:
        run = self._run(task_id)
        _, answer = await self._call("GET", f"/task/{run.agent_task}", task_id=task_id)
        status = self._apply(run, answer)
        if status.state.terminal and run.history is None:
            await self._read_history(run, answer)
            status = self._apply(run, answer)
        return status

    async def _read_history(self, run: _Run, answer: object) -> None:
        """The debug log of a finished task, once (``agent_history``); gone is no error."""
        model = answer.get("model") if isinstance(answer, dict) else None
        try:
            _, body = await self._call(
                "GET", f"/history/{run.agent_task}/debug", task_id=run.last.task_id
            )
        except (NotFound, WorkerError):
            run.history = (None, [])
            return
        run.history = read_debug(body, run.attempt, model if isinstance(model, str) else None)

    async def cancel(self, task_id: str) -> WorkerTaskStatus:
        run = self._run(task_id)
        path = f"/task/{run.agent_task}/cancel"
        try:
            _, answer = await self._call("POST", path, task_id=task_id)
        except (NotFound, WorkerRejected):
            # 404: already in the agent's history; 409 already_completed: ended just now
            return await self.task_status(task_id)
        if isinstance(answer, dict) and answer.get("state") == "cancelled":
            run.last = run.last.model_copy(update={"state": WorkerTaskState.CANCELED})
            return run.last
        return await self.task_status(task_id)

    async def output(
        self, task_id: str, stream: Literal["stdout", "stderr"] = "stdout", offset: int = 0
    ) -> WorkerOutput:
        run = self._run(task_id)
        text = run.output if stream == "stdout" else run.error
        data = text[offset:] if offset < len(text) else ""
        end = max(offset, len(text))
        return WorkerOutput(
            task_id=task_id, stream=stream, offset=offset, next_offset=end, data=data, eof=True
        )

    async def transcript(
        self, task_id: str, attempt: int, after: int = 0, limit: int = 500
    ) -> TranscriptPage:
        """The transcript made of the finished task's debug log (empty while it runs)."""
        run = self._run(task_id)
        found = run.history[1] if run.history is not None and run.attempt == attempt else []
        items = [i for i in found if i.seq > after][:limit]
        return TranscriptPage(
            task_id=task_id,
            attempt=attempt,
            items=items,
            next_after=items[-1].seq if items else after,
            eof=run.history is not None,
        )

    async def changes(self, task_id: str, attempt: int) -> WorkspaceChanges:
        raise NotFound(
            f"agent {self.worker_id} does not report workspace changes",
            details={"worker": self.worker_id, "task_id": task_id},
        )

    # --- the agent itself -----------------------------------------------------------------

    async def status(self) -> WorkerStatus:
        """``GET /status`` as agency's ``WorkerStatus``; remembers the agent's own state."""
        _, answer = await self._call("GET", "/status")
        if not isinstance(answer, dict) or answer.get("type") != "agent":
            raise WorkerError(
                f"{self.base_url} does not answer /status like an ag-agent",
                details={"worker": self.worker_id},
            )
        self.agent_state = str(answer.get("state") or "") or None
        current = answer.get("current_task")
        self.current_task = current.get("id") if isinstance(current, dict) else None
        self.version = str(answer.get("version") or "")
        if self.agent_state == "idle":
            self._busy_until = 0.0
        running = [t for t, r in self._runs.items() if r.agent_task == self.current_task]
        return WorkerStatus(
            id=self.worker_id,
            version=self.version,
            kinds=list(AGENT_KINDS),
            capacity=1,
            running=running,
        )

    async def health(self) -> bool:
        try:
            await self.status()
        except WorkerError:
            return False
        return True

    async def shutdown(self, *, cancel: bool = False) -> WorkerStatus:
        raise WorkerRejected(
            f"agent {self.worker_id} is not shut down by agency: stop its process",
            details={"worker": self.worker_id},
        )

    # --- machinery ------------------------------------------------------------------------

    def _run(self, task_id: str) -> _Run:
        run = self._runs.get(task_id)
        if run is None:
            raise NotFound(
                f"agent {self.worker_id} runs no task {task_id} for this control plane",
                details={"worker": self.worker_id, "task_id": task_id},
            )
        return run

    def _apply(self, run: _Run, answer: object) -> WorkerTaskStatus:
        """Map either shape of the agent's task answer (live or history) onto ``run``."""
        if not isinstance(answer, dict):
            raise WorkerError(f"agent {self.worker_id} answered a task with a non-JSON body")
        state = STATES.get(str(answer.get("state")))
        if state is None:
            raise WorkerError(
                f"agent {self.worker_id} reports an unknown state {answer.get('state')!r}",
                details={"worker": self.worker_id},
            )
        if state is WorkerTaskState.RUNNING and run.last.state is WorkerTaskState.CANCELING:
            state = WorkerTaskState.CANCELING
        error = answer.get("error") if isinstance(answer.get("error"), dict) else None
        reason = f"{error.get('type')}: {error.get('message')}" if error else None
        tokens = answer.get("token_usage")
        usage = (
            Usage(
                input_tokens=int(tokens.get("input") or 0),
                output_tokens=int(tokens.get("output") or 0),
            )
            if isinstance(tokens, dict)
            else None
        )
        if run.history is not None and run.history[0] is not None:
            usage = run.history[0]  # the CLI's own result: cost, turns, cache tokens too
        exit_code = answer.get("exit_code")
        run.output = str(answer.get("output") or "")
        run.error = str(error.get("message") or "") if error else ""
        run.last = WorkerTaskStatus(
            task_id=run.last.task_id,
            attempt=run.attempt,
            kind=run.kind,
            state=state,
            exit_code=exit_code if isinstance(exit_code, int) else None,
            reason=reason,
            started_at=_time(answer.get("started_at")),
            finished_at=_time(answer.get("completed_at")) if state.terminal else None,
            runtime="claude",
            usage=usage,
            session_id=answer.get("session_id") or run.last.session_id,
        )
        return run.last
