"""Inside a task (``AGENCY_TASK_ID`` set by the worker) a submission is that task's child
unless it names its own ``parent_id``; outside one nothing is added."""

from __future__ import annotations

import pytest

from agency.client import endpoints as ep
from agency.client.settings import current_task
from agency.models import TaskSubmit


def test_outside_a_task_nothing_is_added(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AGENCY_TASK_ID", raising=False)
    assert current_task() is None
    assert "parent_id" not in ep.submit("noop", {}, {}).json


def test_inside_a_task_submissions_default_to_its_children(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AGENCY_TASK_ID", "parent-1")
    assert ep.submit("noop", {}, {}).json["parent_id"] == "parent-1"
    # an explicit parent, or an explicit none, is left as given
    assert ep.submit("noop", {}, {"parent_id": "other"}).json["parent_id"] == "other"
    assert ep.submit("noop", {}, {"parent_id": None}).json["parent_id"] is None
    batch = ep.submit_many(
        [
            {"kind": "noop"},
            TaskSubmit(kind="noop"),
            TaskSubmit(kind="noop", parent_id="other"),
            {"kind": "noop", "parent_id": None},
        ]
    ).json["tasks"]
    parents = [t["parent_id"] if isinstance(t, dict) else t.parent_id for t in batch]
    assert parents == ["parent-1", "parent-1", "other", None]
