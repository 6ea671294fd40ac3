"""The agent spec's new fields and the worker protocol's agent fields: validated, optional,
and compatible both ways with peers that predate them."""

from __future__ import annotations

import pytest

from agency.errors import InvalidSpec
from agency.models import AgentSpec, Usage, WorkerReport, WorkerStatus, WorkerTaskStatus, parse_spec


def test_agent_spec_defaults_keep_old_specs_valid() -> None:
    spec = parse_spec("agent", {"prompt": "do it"})
    assert isinstance(spec, AgentSpec)
    assert (spec.runtime, spec.model, spec.session_id) == (None, None, None)
    assert (spec.max_turns, spec.max_cost_usd, spec.on_budget) == (None, None, "stop")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("runtime", "gemini"),
        ("session_id", "--dangerously-skip-permissions"),
        ("session_id", "a b"),
        ("model", "-x"),
        ("max_turns", 0),
        ("max_cost_usd", 0),
        ("on_budget", "explode"),
    ],
)
def test_agent_spec_refuses_bad_values(field: str, value: object) -> None:
    with pytest.raises(InvalidSpec, match=field):
        parse_spec("agent", {"prompt": "x", field: value})


def test_old_and_new_worker_answers_parse_both_ways() -> None:
    old = {"task_id": "t", "attempt": 1, "kind": "agent", "state": "running"}
    status = WorkerTaskStatus.model_validate(old)
    assert status.usage is None and status.session_id is None and status.runtime is None
    report = WorkerReport.model_validate({"worker_id": "w", "status": old})
    assert report.status.task_id == "t"
    new = {**old, "usage": Usage(turns=3, cost_usd=0.5).model_dump(), "session_id": "S"}
    assert WorkerTaskStatus.model_validate(new).usage == Usage(turns=3, cost_usd=0.5)
    base = {"id": "w", "version": "1", "kinds": [], "capacity": 1, "running": []}
    assert WorkerStatus.model_validate(base).sessions == []
