"""A run's transitions as events in the hash chain, and the run rebuilt from them.

Every transition bumps the run's ``version`` and is ONE event (``resource_type`` =
``workflow_run``) that carries the run's new state fields and the whole of each step that
moved; ``workflow.created`` carries the whole run. So ``replay`` over a run's events rebuilds
the stored run, and ``compare`` lists every field where the two differ.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from agency.models import Event, EventIn, utcnow
from agency.models.workflows import ReplayDifference, StepRun, WorkflowRun

RESOURCE = "workflow_run"
#: the run's own fields each transition event carries
RUN_FIELDS = ("state", "version", "reason", "cancel_requested", "finished_at", "updated_at")


def created(run: WorkflowRun, actor: str) -> EventIn:
    """The ``workflow.created`` event: the whole run, where replay starts."""
    return EventIn(
        actor=actor,
        action="workflow.created",
        resource_type=RESOURCE,
        resource_id=run.id,
        details={"run": run.model_dump(mode="json")},
    )


def transition(
    run: WorkflowRun,
    actor: str,
    action: str,
    steps: Iterable[StepRun] = (),
    **extra: Any,
) -> EventIn:
    """Bump ``run``'s version (it is changed in place) and return the event that records it."""
    run.version += 1
    run.updated_at = utcnow()
    fields = run.model_dump(mode="json", include=set(RUN_FIELDS))
    details: dict[str, Any] = {
        **fields,
        "steps": [s.model_dump(mode="json") for s in steps],
        **extra,
    }
    return EventIn(
        actor=actor,
        action=action,
        resource_type=RESOURCE,
        resource_id=run.id,
        details=details,
    )


def replay(events: Iterable[Event]) -> WorkflowRun | None:
    """The run rebuilt from its events (``None`` without a ``workflow.created``)."""
    run: WorkflowRun | None = None
    for ev in sorted(events, key=lambda e: e.seq):
        if ev.resource_type != RESOURCE:
            continue
        if ev.action == "workflow.created":
            run = WorkflowRun.model_validate(ev.details["run"])
            continue
        if run is None or "version" not in ev.details:
            continue  # a refused decision: audited, but not a transition
        data = run.model_dump(mode="json")
        data.update({k: ev.details[k] for k in RUN_FIELDS if k in ev.details})
        moved = {s["id"]: s for s in ev.details.get("steps", [])}
        data["steps"] = [moved.get(s["id"], s) for s in data["steps"]]
        run = WorkflowRun.model_validate(data)
    return run


def compare(stored: WorkflowRun, replayed: WorkflowRun) -> list[ReplayDifference]:
    """Every field (``state``, ``steps.<id>.task_ids``...) where the two runs differ."""
    a = stored.model_dump(mode="json")
    b = replayed.model_dump(mode="json")
    out: list[ReplayDifference] = []
    for key in sorted(set(a) | set(b)):
        if key == "steps":
            continue
        if a.get(key) != b.get(key):
            out.append(ReplayDifference(path=key, stored=a.get(key), replayed=b.get(key)))
    sa = {s["id"]: s for s in a["steps"]}
    sb = {s["id"]: s for s in b["steps"]}
    for sid in sorted(set(sa) | set(sb)):
        x, y = sa.get(sid, {}), sb.get(sid, {})
        for key in sorted(set(x) | set(y)):
            if x.get(key) != y.get(key):
                out.append(
                    ReplayDifference(
                        path=f"steps.{sid}.{key}", stored=x.get(key), replayed=y.get(key)
                    )
                )
    return out
