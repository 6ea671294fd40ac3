"""The workflow engine inside a real control plane: a step's tasks are submitted under keys
derived from the run, so a task that landed before a crash (and before the step's
checkpoint) is the one the step adopts; a run resumes from its checkpoint when the control
plane opens again; a step's transition costs one checkpoint with one event."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from agency.control import ControlPlane
from agency.control.workflows import WorkflowService, task_key
from agency.models import Role, TaskSubmit
from agency.models.workflows import RunState, StepState, WorkflowSpec
from agency.testing import Stack, quick_settings, serve


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("wfc")
    with serve(root / "cp") as s:
        s.add_worker(root / "w", capacity=4, sandbox="off")
        yield s


def spec(*steps: dict[str, object], **params: object) -> WorkflowSpec:
    return WorkflowSpec.model_validate({"name": "ctl", "params": params, "steps": list(steps)})


def echo(text: str) -> dict[str, object]:
    return {"kind": "shell", "spec": {"argv": ["echo", text]}}


async def test_a_task_submitted_before_the_checkpoint_is_adopted_not_run_again(
    tmp_path: Path,
) -> None:
    settings = quick_settings(tmp_path)
    gate = {"role": "operator"}
    definition = spec({"id": "a", "approval": gate, "task": {"kind": "noop"}})
    plane = await ControlPlane.open(settings)
    try:
        run = await plane.workflows.submit(definition, "alice")
        await _until(plane.workflows, run.id, RunState.WAITING_APPROVAL)
        # what a crash between the submission and the step's checkpoint leaves behind
        key = task_key(run.id, "a", 0, 1)
        landed = await plane.tasks.submit(TaskSubmit(kind="noop", idempotency_key=key), "alice")
    finally:
        await plane.close()
    plane = await ControlPlane.open(settings)
    try:
        await plane.workflows.decide(run.id, "a", "bob", Role.OPERATOR, True, "go")
        step = (await plane.workflows.get(run.id)).step("a")
        assert step.state is StepState.RUNNING and step.task_ids == [landed.id]
        page = await plane.tasks.repos.tasks.by_keys([key])
        assert [t.id for t in page] == [landed.id]
    finally:
        await plane.close()


async def _until(wf: WorkflowService, run_id: str, state: RunState) -> None:
    for _ in range(400):
        run = await wf.get(run_id)
        if run.state is state:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"run {run_id} never {state.value}")


async def test_a_waiting_run_resumes_when_the_plane_opens_again(tmp_path: Path) -> None:
    settings = quick_settings(tmp_path)
    gate = {"role": "operator"}
    definition = spec(
        {"id": "a", "approval": gate, "task": {"kind": "noop"}},
        {"id": "b", "needs": ["a"], "task": {"kind": "noop"}},
    )
    plane = await ControlPlane.open(settings)
    try:
        run = await plane.workflows.submit(definition, "alice")
        await _until(plane.workflows, run.id, RunState.WAITING_APPROVAL)
        version = (await plane.workflows.get(run.id)).version
    finally:
        await plane.close()
    plane = await ControlPlane.open(settings)
    try:
        resumed = await plane.workflows.get(run.id)
        assert resumed.state is RunState.WAITING_APPROVAL and resumed.version == version
        assert resumed.step("a").state is StepState.WAITING_APPROVAL
        assert resumed.step("b").state is StepState.PENDING
        assert run.id in plane.workflows.engine.runs
        replay = await plane.workflows.replay(run.id)
        assert replay.consistent, replay.differences
    finally:
        await plane.close()
