"""The Workflows page's data: the step graph (levels, colours, links to tasks), the steps
table and the confirmations' sentences."""

from __future__ import annotations

from agency.models.workflows import StepRun, StepState, WorkflowRun, WorkflowSpec
from agency_dashboards.data import workflows as wd


def diamond() -> WorkflowRun:
    spec = WorkflowSpec.model_validate(
        {
            "name": "d",
            "steps": [
                {"id": "a", "task": {"kind": "noop"}},
                {"id": "b", "needs": ["a"], "task": {"kind": "noop"}},
                {"id": "c", "needs": ["a"], "when": "failed", "task": {"kind": "noop"}},
                {"id": "d", "needs": ["b", "c"], "task": {"kind": "noop"}},
            ],
        }
    )
    steps = [
        StepRun(id="a", state=StepState.SUCCEEDED, task_ids=["t-a"]),
        StepRun(id="b", state=StepState.RUNNING, task_ids=["t-b1", "t-b2"]),
        StepRun(id="c", state=StepState.SKIPPED),
        StepRun(id="d"),
    ]
    return WorkflowRun(id="r1", name="d", spec=spec, steps=steps)


def test_levels_follow_the_longest_chain_of_needs() -> None:
    assert wd.levels(diamond()) == {"a": 0, "b": 1, "c": 1, "d": 2}


def test_the_graph_colours_each_state_and_links_steps_to_their_tasks() -> None:
    svg = wd.graph_svg(diamond())
    assert svg.startswith("<svg") and svg.count("<line") == 4
    assert 'data-state="succeeded"' in svg and wd.STATE_COLORS["running"] in svg
    assert '<a href="?page=tasks&task=t-a"' in svg and '<a href="?page=tasks&task=t-b1"' in svg
    assert "b (2)" in svg  # a mapped step shows how many tasks it has
    assert svg.count("<a ") == 2  # steps without tasks link nowhere


def test_steps_table_and_confirmations() -> None:
    wf = diamond()
    df = wd.step_rows(wf)
    assert list(df["step"]) == ["a", "b", "c", "d"]
    assert list(df["tasks"]) == [1, 2, 0, 0] and df["when"][2] == "failed"
    assert "b" in wd.confirm_text("cancel", wf, None)
    assert wd.confirm_text("approve", wf, "d").startswith("Approve step **d**")
    assert "new attempt" in wd.confirm_text("retry", wf, "b")
