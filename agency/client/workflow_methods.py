"""Workflow methods of ``AgencyClient`` (``WorkflowMethods``) and of ``AsyncAgencyClient``
(``AsyncWorkflowMethods``): each one sends the request ``agency.client.workflow_endpoints``
builds, so the two faces cannot drift apart.

A definition is a ``Workflow`` builder (``agency.client.dag``), a ``WorkflowSpec`` or a dict.
Actions take the run ``version`` the caller saw: a stale one raises ``VersionConflict``.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from agency.client import workflow_endpoints as wep
from agency.client.wire import Call
from agency.models.workflows import (
    RunState,
    Workflow,
    WorkflowDetail,
    WorkflowReplay,
    WorkflowRun,
)

if TYPE_CHECKING:
    import pandas as pd

T = TypeVar("T")
#: seconds between two reads of a run while waiting for it to be final
POLL = 0.2


class _SyncHost(Protocol):
    def _do(self, call: Call[T]) -> T: ...


class _AsyncHost(Protocol):
    async def _do(self, call: Call[T]) -> T: ...


class WorkflowMethods:
    """Submit, list, show, wait for, cancel, retry, approve and reject workflow runs; saved
    definitions (sync)."""

    def submit_workflow(
        self: _SyncHost, definition: Any, params: dict[str, Any] | None = None
    ) -> WorkflowRun:
        """Run a definition given whole; ``params`` override its params."""
        return self._do(wep.submit_run(definition, params))

    def workflow_runs(
        self: _SyncHost,
        state: RunState | str | None = None,
        name: str | None = None,
        limit: int = 100,
    ) -> pd.DataFrame:
        """Runs newest first, one row each (``steps`` lists ``<id>:<state>``)."""
        return self._do(wep.run_rows(state, name, limit))

    def workflow_run_list(
        self: _SyncHost,
        state: RunState | str | None = None,
        name: str | None = None,
        limit: int = 100,
    ) -> list[WorkflowRun]:
        """Runs newest first, as models."""
        return self._do(wep.run_list(state, name, limit))

    def workflow_run(self: _SyncHost, run_id: str) -> WorkflowRun:
        """One run: state, version and steps with their task ids."""
        return self._do(wep.run(run_id))

    def wait_workflow(self: _SyncHost, run_id: str, timeout: float = 120.0) -> WorkflowRun:
        """The run once it is final; ``RequestTimeout`` after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            run = self._do(wep.run(run_id))
            if run.state.final:
                return run
            if time.monotonic() >= deadline:
                raise wep.not_final(run_id, timeout)
            time.sleep(POLL)

    def cancel_workflow(
        self: _SyncHost, run_id: str, reason: str | None = None, version: int | None = None
    ) -> WorkflowRun:
        """Cancel every running step's tasks and the steps not started."""
        return self._do(wep.cancel(run_id, reason, version))

    def retry_workflow_step(
        self: _SyncHost,
        run_id: str,
        step: str,
        reason: str | None = None,
        version: int | None = None,
    ) -> WorkflowRun:
        """Run a failed or canceled step again, with the steps after it."""
        return self._do(wep.retry(run_id, step, reason, version))

    def approve_workflow_step(
        self: _SyncHost, run_id: str, step: str, reason: str, version: int | None = None
    ) -> WorkflowRun:
        """Approve a step waiting for it (audited with ``reason``)."""
        return self._do(wep.decide(run_id, step, True, reason, version))

    def reject_workflow_step(
        self: _SyncHost, run_id: str, step: str, reason: str, version: int | None = None
    ) -> WorkflowRun:
        """Reject a step waiting for approval: it fails (audited with ``reason``)."""
        return self._do(wep.decide(run_id, step, False, reason, version))

    def replay_workflow(self: _SyncHost, run_id: str) -> WorkflowReplay:
        """The run rebuilt from its events and compared with the stored one."""
        return self._do(wep.replay(run_id))

    def save_workflow(self: _SyncHost, definition: Any) -> Workflow:
        """Save a definition under its name (a new revision if it exists)."""
        return self._do(wep.save(definition))

    def workflows(self: _SyncHost) -> list[Workflow]:
        """Every saved definition, by name."""
        return self._do(wep.definitions())

    def workflow(self: _SyncHost, name: str) -> WorkflowDetail:
        """A saved definition with its revisions."""
        return self._do(wep.definition(name))

    def run_workflow(
        self: _SyncHost, name: str, params: dict[str, Any] | None = None
    ) -> WorkflowRun:
        """Run the latest revision of a saved definition."""
        return self._do(wep.run_saved(name, params))


class AsyncWorkflowMethods:
    """The asyncio twins of ``WorkflowMethods``."""

    async def submit_workflow(
        self: _AsyncHost, definition: Any, params: dict[str, Any] | None = None
    ) -> WorkflowRun:
        return await self._do(wep.submit_run(definition, params))

    async def workflow_runs(
        self: _AsyncHost,
        state: RunState | str | None = None,
        name: str | None = None,
        limit: int = 100,
    ) -> pd.DataFrame:
        return await self._do(wep.run_rows(state, name, limit))

    async def workflow_run_list(
        self: _AsyncHost,
        state: RunState | str | None = None,
        name: str | None = None,
        limit: int = 100,
    ) -> list[WorkflowRun]:
        return await self._do(wep.run_list(state, name, limit))

    async def workflow_run(self: _AsyncHost, run_id: str) -> WorkflowRun:
        return await self._do(wep.run(run_id))

    async def wait_workflow(self: _AsyncHost, run_id: str, timeout: float = 120.0) -> WorkflowRun:
        deadline = time.monotonic() + timeout
        while True:
            run = await self._do(wep.run(run_id))
            if run.state.final:
                return run
            if time.monotonic() >= deadline:
                raise wep.not_final(run_id, timeout)
            await asyncio.sleep(POLL)

    async def cancel_workflow(
        self: _AsyncHost, run_id: str, reason: str | None = None, version: int | None = None
    ) -> WorkflowRun:
        return await self._do(wep.cancel(run_id, reason, version))

    async def retry_workflow_step(
        self: _AsyncHost,
        run_id: str,
        step: str,
        reason: str | None = None,
        version: int | None = None,
    ) -> WorkflowRun:
        return await self._do(wep.retry(run_id, step, reason, version))

    async def approve_workflow_step(
        self: _AsyncHost, run_id: str, step: str, reason: str, version: int | None = None
    ) -> WorkflowRun:
        return await self._do(wep.decide(run_id, step, True, reason, version))

    async def reject_workflow_step(
        self: _AsyncHost, run_id: str, step: str, reason: str, version: int | None = None
    ) -> WorkflowRun:
        return await self._do(wep.decide(run_id, step, False, reason, version))

    async def replay_workflow(self: _AsyncHost, run_id: str) -> WorkflowReplay:
        return await self._do(wep.replay(run_id))

    async def save_workflow(self: _AsyncHost, definition: Any) -> Workflow:
        return await self._do(wep.save(definition))

    async def workflows(self: _AsyncHost) -> list[Workflow]:
        return await self._do(wep.definitions())

    async def workflow(self: _AsyncHost, name: str) -> WorkflowDetail:
        return await self._do(wep.definition(name))

    async def run_workflow(
        self: _AsyncHost, name: str, params: dict[str, Any] | None = None
    ) -> WorkflowRun:
        return await self._do(wep.run_saved(name, params))
