"""``WorkflowRepository``: the ``workflows``, ``workflow_revisions``, ``workflow_runs`` and
``workflow_steps`` tables.

Every write of a run is one atomic write of the run's row (with its new version), the rows of
the steps that moved, and the events that record the transition. They are journaled: the
workflow engine is the only writer of these rows and numbers the versions itself under the
run's lock, so they cannot conflict, and a journaled write is durable in a fraction of a
millisecond (a step transition must stay cheap) instead of a DuckDB commit each.
"""

from __future__ import annotations

import asyncio
from typing import Any

from agency.models import Event, EventIn
from agency.models.workflows import (
    RunState,
    StepRun,
    Workflow,
    WorkflowRevision,
    WorkflowRun,
)
from agency.storage.ops import Insert, Upsert, WriteOp
from agency.storage.repository import Repository, row_limit

MAX_LIMIT = 1000
_FINAL = [RunState.SUCCEEDED.value, RunState.FAILED.value, RunState.CANCELED.value]


#: a run's row without what it runs: ``spec`` and ``params`` are written once, apart
_IMMUTABLE = frozenset({"steps", "spec", "params"})
_SELECT = (
    "SELECT r.*, s.spec AS spec, s.params AS params FROM workflow_runs AS r "
    "JOIN workflow_run_specs AS s ON s.run_id = r.id"
)


def _run_row(run: WorkflowRun) -> dict[str, Any]:
    return run.model_dump(mode="python", exclude=set(_IMMUTABLE))


def _step_row(run: WorkflowRun, step: StepRun) -> dict[str, Any]:
    return {"run_id": run.id, **step.model_dump(mode="python"), "version": run.version}


class WorkflowRepository(Repository):
    """Saved workflow definitions and the runs with their steps, over one ``Store``."""

    # --- definitions ----------------------------------------------------------------------

    async def definitions(self) -> list[Workflow]:
        return await self._all(Workflow, "SELECT * FROM workflows ORDER BY name")

    async def definition(self, name: str) -> Workflow | None:
        return await self._one(Workflow, "SELECT * FROM workflows WHERE name = ?", [name])

    async def revisions(self, name: str) -> list[WorkflowRevision]:
        return await self._all(
            WorkflowRevision,
            "SELECT * FROM workflow_revisions WHERE name = ? ORDER BY revision",
            [name],
        )

    async def save_definition(self, wf: Workflow, rev: WorkflowRevision, *events: EventIn) -> None:
        """The definition at its new revision, the revision's row and its event, together."""
        await self._write(
            Upsert("workflows", [wf.model_dump(mode="python")], ("name",)),
            Upsert("workflow_revisions", [rev.model_dump(mode="python")], ("name", "revision")),
            *events,
            journal=True,
        )

    # --- runs -----------------------------------------------------------------------------

    async def create(self, run: WorkflowRun, *events: EventIn) -> None:
        """A new run: what it runs (once), its row and its steps' rows, with its event."""
        spec = {"run_id": run.id, "spec": run.spec.model_dump(mode="json"), "params": run.params}
        await self._write(
            Insert("workflow_run_specs", [spec]),
            *self.save_ops(run, run.steps),
            *events,
            journal=True,
        )

    def save_ops(self, run: WorkflowRun, steps: list[StepRun]) -> list[WriteOp]:
        """The run's row and the rows of ``steps`` (the ones that moved), as one checkpoint."""
        ops: list[WriteOp] = [Upsert("workflow_runs", [_run_row(run)])]
        if steps:
            rows = [_step_row(run, s) for s in steps]
            ops.append(Upsert("workflow_steps", rows, ("run_id", "id")))
        return ops

    async def save(self, run: WorkflowRun, steps: list[StepRun], *events: EventIn) -> None:
        """Checkpoint ``run`` (with the steps that moved) and its events, atomically."""
        await self._write(*self.save_ops(run, steps), *events, journal=True)

    def save_nowait(
        self, run: WorkflowRun, steps: list[StepRun], *events: EventIn
    ) -> asyncio.Future[list[Event]]:
        """``save``, queued now without yielding (it joins this loop turn's group commit);
        the future resolves once it is durable."""
        return self.store.write_nowait(*self.save_ops(run, steps), *events, journal=True)

    async def get(self, run_id: str) -> WorkflowRun | None:
        row = await self.store.fetch_one(f"{_SELECT} WHERE r.id = ?", [run_id])
        if row is None:
            return None
        return (await self._with_steps([row]))[0]

    async def find(
        self,
        *,
        state: RunState | None = None,
        name: str | None = None,
        limit: int = 100,
    ) -> list[WorkflowRun]:
        """Runs newest first, optionally in one state or of one workflow."""
        where: list[str] = []
        params: list[Any] = []
        if state is not None:
            where.append("r.state = ?")
            params.append(state.value)
        if name is not None:
            where.append("r.name = ?")
            params.append(name)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        rows = await self.store.fetch(
            f"{_SELECT} {clause} ORDER BY r.created_at DESC, r.id DESC LIMIT ?",
            [*params, min(row_limit(limit), MAX_LIMIT)],
        )
        return await self._with_steps(rows)

    async def live(self) -> list[WorkflowRun]:
        """Every run that is not final (what a start resumes), oldest first."""
        marks = ", ".join("?" for _ in _FINAL)
        rows = await self.store.fetch(
            f"{_SELECT} WHERE r.state NOT IN ({marks}) ORDER BY r.created_at, r.id",
            _FINAL,
        )
        return await self._with_steps(rows)

    async def _with_steps(self, rows: list[dict[str, Any]]) -> list[WorkflowRun]:
        if not rows:
            return []
        ids = [r["id"] for r in rows]
        marks = ", ".join("?" for _ in ids)
        steps = await self.store.fetch(
            f"SELECT * FROM workflow_steps WHERE run_id IN ({marks})", ids
        )
        by_run: dict[str, dict[str, dict[str, Any]]] = {}
        for s in steps:
            by_run.setdefault(s["run_id"], {})[s["id"]] = s
        out: list[WorkflowRun] = []
        for r in rows:
            run = WorkflowRun.model_validate(r)
            mine = by_run.get(run.id, {})
            # in the definition's order (the rows carry no order of their own)
            run.steps = [
                StepRun.model_validate(mine[s.id]) if s.id in mine else StepRun(id=s.id)
                for s in run.spec.steps
            ]
            out.append(run)
        return out
