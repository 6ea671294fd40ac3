"""The three example workflows of ``examples/workflows/`` run end to end on a local worker:
PR deployment (its deploy approved by a second operator), parallel docs (fan-out, fan-in)
and self-healing (its ``when: failed`` branch heals, then verifies)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agency.client import AgencyClient
from agency.models import Role
from agency.models.workflows import RunState, StepState
from agency.testing import Stack, serve, wait_for

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "workflows"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("examples")
    with serve(root / "cp") as s:
        s.add_worker(root / "w", capacity=4, sandbox="off")
        yield s


def definition(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EXAMPLES / f"{name}.json").read_text())
    return data


def out(client: AgencyClient, task_id: str) -> str:
    return client.output(task_id).data.strip()


def test_pr_deployment_waits_for_a_second_operator(stack: Stack) -> None:
    with (
        stack.client(stack.token("sam", Role.OPERATOR)) as sam,
        stack.client(stack.token("rita", Role.OPERATOR)) as rita,
    ):
        run = sam.submit_workflow(definition("pr-deployment"), {"ref": "pr-42"})
        wait_for(
            lambda: sam.workflow_run(run.id).state is RunState.WAITING_APPROVAL, 60, "approval"
        )
        rita.approve_workflow_step(run.id, "deploy", "reviewed and tested")
        done = sam.wait_workflow(run.id, 60)
        assert done.state is RunState.SUCCEEDED
        deploy = out(sam, done.step("deploy").task_ids[0])
        assert deploy == "deployed web at pr-42: review approved, tests passed on pr-42"


def test_parallel_docs_fans_out_and_in(stack: Stack) -> None:
    with stack.client() as client:
        done = client.wait_workflow(client.submit_workflow(definition("parallel-docs")).id, 60)
        assert done.state is RunState.SUCCEEDED
        assert len(done.step("write").task_ids) == 4
        text = out(client, done.step("assemble").task_ids[0])
        assert text.startswith("4 sections: ## install (Operations guide) | ## configure")


def test_self_healing_heals_through_its_failed_branch(stack: Stack, tmp_path: Path) -> None:
    marker = tmp_path / "healthy"
    with stack.client() as client:
        spec = definition("self-healing")
        done = client.wait_workflow(client.submit_workflow(spec, {"marker": str(marker)}).id, 60)
        states = {s.id: s.state for s in done.steps}
        assert states == {
            "detect": StepState.FAILED,
            "healthy": StepState.SKIPPED,
            "diagnose": StepState.SUCCEEDED,
            "fix": StepState.SUCCEEDED,
            "verify": StepState.SUCCEEDED,
        }
        assert done.state is RunState.SUCCEEDED and marker.exists()
        assert out(client, done.step("fix").task_ids[0]) == "fixed after diagnosis: marker missing"
        # healthy now: the second run takes the other branch
        again = client.wait_workflow(client.submit_workflow(spec, {"marker": str(marker)}).id, 60)
        assert again.step("healthy").state is StepState.SUCCEEDED
        assert again.step("diagnose").state is StepState.SKIPPED
        assert again.state is RunState.SUCCEEDED
