"""``WorkflowService``: saved definitions, runs, and the operator's actions on them.

Every action on a run (cancel, retry, approve, reject) takes the version the caller saw:
``version`` in the body (a stale one is a 409 ``version_conflict``) or the ``If-Match``
header (a 412 ``precondition_failed``), both with the current version in the details. The
check and the change happen under the run's lock, so of two operators acting on the same
version one wins and the other is told to read again.
"""

from __future__ import annotations

from agency.control.tasks import Orchestrator
from agency.control.workflows import record
from agency.control.workflows.engine import WorkflowEngine
from agency.control.workflows.graph import dependents
from agency.errors import (
    Conflict,
    Forbidden,
    NotFound,
    PreconditionFailed,
    ValidationFailed,
    VersionConflict,
)
from agency.governance import require_second_person
from agency.models import EventIn, Role, new_id, utcnow
from agency.models.workflow_refs import check_definition
from agency.models.workflows import (
    RunState,
    StepRun,
    StepState,
    Workflow,
    WorkflowDetail,
    WorkflowReplay,
    WorkflowRevision,
    WorkflowRun,
    WorkflowSpec,
)
from agency.storage import Repositories

#: steps a retry puts back to pending, besides the retried one
_RESET = frozenset({StepState.SKIPPED, StepState.CANCELED, StepState.FAILED})


def check_version(run: WorkflowRun, version: int | None, if_match: int | None) -> None:
    """Refuse an action that names a version other than the run's current one."""
    details = {"run_id": run.id, "current_version": run.version}
    if if_match is not None and if_match != run.version:
        raise PreconditionFailed(
            f"If-Match names version {if_match}; run {run.id} is at version {run.version}",
            details={**details, "if_match": if_match},
        )
    if version is not None and version != run.version:
        raise VersionConflict(
            f"version {version} is stale; run {run.id} is at version {run.version}",
            details={**details, "version": version},
        )


class WorkflowService:
    """Definitions, runs and their actions; the ``WorkflowEngine`` moves the runs."""

    def __init__(self, repos: Repositories, tasks: Orchestrator) -> None:
        self.repo = repos.workflows
        self.events = repos.events
        self.engine = WorkflowEngine(repos.workflows, repos.events, tasks)
        self.tasks = tasks

    async def start(self) -> None:
        """Resume every run that is not final from its checkpoint."""
        await self.engine.start()

    async def stop(self) -> None:
        await self.engine.stop()

    # --- definitions ----------------------------------------------------------------------

    async def save_definition(self, spec: WorkflowSpec, actor: str) -> Workflow:
        """Save ``spec`` under its name: revision 1, or the next revision of that name."""
        if spec.name == "runs":  # /api/v1/workflows/runs lists runs: no definition hides it
            raise ValidationFailed("a workflow cannot be named 'runs'", details={"field": "name"})
        check_definition(spec)
        now = utcnow()
        old = await self.repo.definition(spec.name)
        revision = old.revision + 1 if old else 1
        wf = Workflow(
            **spec.model_dump(),
            revision=revision,
            created_by=old.created_by if old else actor,
            created_at=old.created_at if old else now,
            updated_at=now,
        )
        rev = WorkflowRevision(**spec.model_dump(), revision=revision, created_by=actor)
        ev = EventIn(
            actor=actor,
            action="workflow_definition.saved",
            resource_type="workflow",
            resource_id=spec.name,
            details={"revision": revision, "steps": [s.id for s in spec.steps]},
        )
        await self.repo.save_definition(wf, rev, ev)
        return wf

    async def definitions(self) -> list[Workflow]:
        return await self.repo.definitions()

    async def definition(self, name: str) -> WorkflowDetail:
        wf = await self.repo.definition(name)
        if wf is None:
            raise NotFound(f"no workflow {name!r}", details={"name": name})
        return WorkflowDetail(**wf.model_dump(), revisions=await self.repo.revisions(name))

    async def run_saved(self, name: str, params: dict[str, object], actor: str) -> WorkflowRun:
        """Run the latest revision of a saved definition with ``params`` over its defaults."""
        wf = await self.repo.definition(name)
        if wf is None:
            raise NotFound(f"no workflow {name!r}", details={"name": name})
        unknown = sorted(set(params) - set(wf.params))
        if unknown:
            raise ValidationFailed(
                f"workflow {name!r} has no param {unknown[0]!r}; params: "
                f"{', '.join(sorted(wf.params)) or 'none'}",
                details={"field": f"params.{unknown[0]}"},
            )
        spec = WorkflowSpec(name=wf.name, params={**wf.params, **params}, steps=wf.steps)
        return await self.submit(spec, actor, revision=wf.revision)

    # --- runs -----------------------------------------------------------------------------

    async def submit(
        self, spec: WorkflowSpec, actor: str, *, revision: int | None = None
    ) -> WorkflowRun:
        """Check the definition, store the run (``pending``) and start it."""
        check_definition(spec)
        run = WorkflowRun(
            id=new_id(),
            name=spec.name,
            revision=revision,
            spec=spec,
            params=spec.params,
            steps=[StepRun(id=s.id) for s in spec.steps],
            created_by=actor,
        )
        await self.repo.create(run, record.created(run, actor))
        self.engine.adopt(run)
        return run.model_copy(deep=True)

    async def get(self, run_id: str) -> WorkflowRun:
        live = self.engine.runs.get(run_id)
        if live is not None:
            return live.model_copy(deep=True)
        run = await self.repo.get(run_id)
        if run is None:
            raise NotFound(f"no workflow run {run_id}", details={"run_id": run_id})
        return run

    async def find(
        self, *, state: RunState | None = None, name: str | None = None, limit: int = 100
    ) -> list[WorkflowRun]:
        """Runs, newest first (as checkpointed)."""
        return await self.repo.find(state=state, name=name, limit=limit)

    async def wait(self, run_id: str, timeout: float = 60.0) -> WorkflowRun:
        """The run once it is final, or as it is after ``timeout`` seconds."""
        await self.engine.wait(run_id, timeout)
        return await self.get(run_id)

    async def _live(self, run_id: str) -> WorkflowRun:
        run = self.engine.runs.get(run_id)
        if run is None:
            stored = await self.get(run_id)  # NotFound, or a final run
            return stored
        return run

    async def cancel(
        self,
        run_id: str,
        actor: str,
        reason: str | None = None,
        *,
        version: int | None = None,
        if_match: int | None = None,
    ) -> WorkflowRun:
        """Cancel every running step's tasks (the visible task cancel) and every step not
        started; the run is ``canceled`` once those tasks are final."""
        async with self.engine.lock(run_id):
            run = await self._live(run_id)
            check_version(run, version, if_match)
            if run.state.final or run.cancel_requested:
                raise Conflict(
                    f"run {run.id} is {run.state.value}"
                    + (" and already canceling" if run.cancel_requested else ""),
                    details={"run_id": run.id, "state": run.state.value},
                )
            why = reason or f"canceled by {actor}"
            run.cancel_requested, run.reason = True, why
            moved: list[StepRun] = []
            for step in run.steps:
                if step.state in (StepState.PENDING, StepState.WAITING_APPROVAL):
                    step.state, step.reason, step.finished_at = StepState.CANCELED, why, utcnow()
                    moved.append(step)
            await self.engine.save(run, "workflow.cancel_requested", moved, actor=actor)
            for step in run.steps:
                if step.state is StepState.RUNNING:
                    for task_id in step.task_ids:
                        task = await self.tasks.get(task_id)
                        if not task.state.terminal:
                            await self.tasks.cancel(task_id, actor, why)
            await self.engine.advance(run.id)
            return run.model_copy(deep=True)

    async def retry(
        self,
        run_id: str,
        step_id: str,
        actor: str,
        reason: str | None = None,
        *,
        version: int | None = None,
        if_match: int | None = None,
    ) -> WorkflowRun:
        """Run a failed (or canceled) step again, as a new attempt, with the steps after it
        that did not succeed; the run is live again."""
        async with self.engine.lock(run_id):
            run = await self._live(run_id)
            check_version(run, version, if_match)
            step = _step(run, step_id)
            if step.state not in (StepState.FAILED, StepState.CANCELED):
                raise Conflict(
                    f"step {step_id} of run {run.id} is {step.state.value}: only a failed or "
                    "canceled step can be retried",
                    details={"run_id": run.id, "step": step_id, "state": step.state.value},
                )
            moved = [step]
            for sid in dependents(run, step_id):
                later = run.step(sid)
                if later.state in _RESET:
                    moved.append(later)
            for s in moved:
                had_tasks = bool(s.task_ids)
                s.state, s.reason, s.outputs, s.items = StepState.PENDING, None, None, None
                s.task_ids, s.started_at, s.finished_at, s.decided_by = [], None, None, None
                s.attempt += 1 if had_tasks or s is step else 0
            run.state, run.reason, run.finished_at = RunState.RUNNING, None, None
            run.cancel_requested = False
            if run.id not in self.engine.runs:  # from the database: its past is not ours
                self.engine.unsure.add(run.id)
            await self.engine.save(
                run, "workflow.step_retried", moved, actor=actor, step_id=step_id, why=reason
            )
            self.engine.adopt(run)
            await self.engine.advance(run.id)
            return run.model_copy(deep=True)

    async def decide(
        self,
        run_id: str,
        step_id: str,
        actor: str,
        role: Role,
        approve: bool,
        reason: str,
        *,
        version: int | None = None,
        if_match: int | None = None,
    ) -> WorkflowRun:
        """Approve (its tasks are submitted) or reject (it fails) a step waiting for it."""
        async with self.engine.lock(run_id):
            run = await self._live(run_id)
            check_version(run, version, if_match)
            step = _step(run, step_id)
            if step.state is not StepState.WAITING_APPROVAL:
                raise Conflict(
                    f"step {step_id} of run {run.id} is {step.state.value}, not waiting for "
                    "approval",
                    details={"run_id": run.id, "step": step_id, "state": step.state.value},
                )
            spec = next(s for s in run.spec.steps if s.id == step_id)
            gate = spec.approval
            try:
                if gate is not None and not role.allows(gate.role):
                    raise Forbidden(
                        f"step {step_id} needs a {gate.role.value} to decide it; {actor} is "
                        f"a {role.value}",
                        details={"run_id": run.id, "step": step_id, "role": gate.role.value},
                    )
                if gate is not None and gate.distinct_from_submitter:
                    require_second_person(
                        actor,
                        run.created_by,
                        f"{actor} submitted run {run.id}: a different operator must decide "
                        f"step {step_id}",
                        {"run_id": run.id, "step": step_id, "submitted_by": run.created_by},
                    )
            except Forbidden as exc:
                await self.events.append(
                    EventIn(
                        actor=actor,
                        action="workflow.decision_refused",
                        resource_type=record.RESOURCE,
                        resource_id=run.id,
                        details={"step_id": step_id, "approve": approve, "why": exc.message},
                    )
                )
                raise
            step.decided_by = actor
            if approve:
                step.state = StepState.PENDING
                action = "workflow.step_approved"
            else:
                step.state, step.finished_at = StepState.FAILED, utcnow()
                step.reason, step.outputs = f"rejected by {actor}: {reason}", []
                action = "workflow.step_rejected"
            await self.engine.save(
                run, action, [step], actor=actor, step_id=step_id, decision_reason=reason
            )
            await self.engine.advance(run.id)
            return run.model_copy(deep=True)

    async def replay(self, run_id: str) -> WorkflowReplay:
        """The run rebuilt from its events, compared with the stored run."""
        stored = await self.repo.get(run_id)
        if stored is None:
            raise NotFound(f"no workflow run {run_id}", details={"run_id": run_id})
        events = await self.events.find(
            resource_type=record.RESOURCE, resource_id=run_id, limit=10_000
        )
        rebuilt = record.replay(events)
        if rebuilt is None:
            return WorkflowReplay(consistent=False, events=len(events))
        diffs = record.compare(stored, rebuilt)
        return WorkflowReplay(
            consistent=not diffs, events=len(events), differences=diffs, replayed=rebuilt
        )


def _step(run: WorkflowRun, step_id: str) -> StepRun:
    try:
        return run.step(step_id)
    except KeyError:
        raise NotFound(
            f"run {run.id} has no step {step_id!r}", details={"run_id": run.id, "step": step_id}
        ) from None
