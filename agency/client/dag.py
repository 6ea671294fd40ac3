"""``Workflow``: a small builder of workflow definitions in Python, for notebooks and scripts.

    from agency.client import Workflow
    wf = (
        Workflow("deploy", params={"ref": "main"})
        .shell("review", ["echo", "reviewed {{ params.ref }}"])
        .shell("test", ["make", "test"], needs=["review"])
        .shell("deploy", ["./deploy.sh"], needs=["test"], approval={"role": "operator"})
    )
    run = client.submit_workflow(wf)

Each call adds one step and returns the builder; ``to_spec`` checks the whole definition the
way the server does (a cycle or a bad reference raises ``ValidationFailed`` naming the step).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from agency.models.workflow_refs import check_definition
from agency.models.workflows import WorkflowSpec


class Workflow:
    """A workflow definition being built, step by step (see the module docstring)."""

    def __init__(self, name: str, params: dict[str, Any] | None = None) -> None:
        self.name = name
        self.params: dict[str, Any] = dict(params or {})
        self.steps: list[dict[str, Any]] = []

    def param(self, name: str, default: Any = None) -> Workflow:
        """Declare a param (``{{ params.<name> }}``) with its default."""
        self.params[name] = default
        return self

    def step(
        self,
        id: str,
        task: dict[str, Any],
        *,
        needs: Iterable[str] = (),
        when: str = "succeeded",
        map: list[Any] | str | None = None,
        approval: dict[str, Any] | None = None,
    ) -> Workflow:
        """Add a step running ``task`` (a task template: ``kind``, ``spec``, ``labels``...)."""
        step: dict[str, Any] = {"id": id, "task": task, "needs": list(needs), "when": when}
        if map is not None:
            step["map"] = map
        if approval is not None:
            step["approval"] = approval
        self.steps.append(step)
        return self

    def shell(self, id: str, argv: list[str], **options: Any) -> Workflow:
        """Add a shell step; ``options`` are ``step``'s (needs, when, map, approval) or the
        task template's (retry, timeout, labels, locks, priority)."""
        return self.step(id, _task("shell", {"argv": argv}, options), **options)

    def agent(self, id: str, prompt: str, **options: Any) -> Workflow:
        """Add an agent step (the worker's default runtime unless ``runtime`` is given)."""
        spec = {"prompt": prompt}
        for key in ("runtime", "model", "max_turns", "max_cost_usd"):
            if key in options:
                spec[key] = options.pop(key)
        return self.step(id, _task("agent", spec, options), **options)

    def to_spec(self) -> WorkflowSpec:
        """The definition as the server will take it, checked the same way."""
        spec = WorkflowSpec.model_validate(
            {"name": self.name, "params": self.params, "steps": self.steps}
        )
        check_definition(spec)
        return spec

    def to_dict(self) -> dict[str, Any]:
        """The definition as JSON values (what ``examples/workflows/*.json`` hold)."""
        return self.to_spec().model_dump(mode="json")


_TASK_OPTIONS = ("retry", "timeout", "labels", "locks", "priority")


def _task(kind: str, spec: dict[str, Any], options: dict[str, Any]) -> dict[str, Any]:
    """The task template of a step; takes the template's own options out of ``options``."""
    task: dict[str, Any] = {"kind": kind, "spec": spec}
    for key in _TASK_OPTIONS:
        if key in options:
            task[key] = options.pop(key)
    return task
