"""Sandbox denials seen from the control plane: one audit event per denied attempt.

A worker refuses a spec whose paths resolve outside its allowed roots in two ways at once:
it answers the dispatch with ``403 sandbox_denied`` and it reports (or answers a poll with)
a failed status whose ``denials`` list names each path and rule. Whichever reaches the
orchestrator first fails the task; the ``task.sandbox_denied`` event built here is written
in the same store write as that failure, so the denial is recorded exactly once.
"""

from __future__ import annotations

from typing import Any

from agency.errors import AgencyError
from agency.models import EventIn, Task

SANDBOX_DENIED = "task.sandbox_denied"
UNKNOWN_RULE = "sandbox_denied"  # a worker that refused without saying which rule


def denials_from_error(exc: AgencyError) -> list[dict[str, str]]:
    """The denials a worker's ``sandbox_denied`` answer carries (``[]`` when it names none)."""
    worker = exc.details.get("worker_details")
    if not isinstance(worker, dict):
        return []
    listed = worker.get("denials")
    if isinstance(listed, list) and listed:
        return [{str(k): str(v) for k, v in d.items()} for d in listed if isinstance(d, dict)]
    if "path" in worker:
        one = {k: str(worker[k]) for k in ("path", "resolved", "rule") if worker.get(k) is not None}
        return [one]
    return []


def denial_event(task: Task, worker_id: str, denials: list[dict[str, str]]) -> EventIn:
    """The audit event of a denied attempt: the task, the first path and rule, and all denials."""
    first = denials[0] if denials else {}
    details: dict[str, Any] = {
        "path": first.get("path"),
        "resolved": first.get("resolved"),
        "rule": first.get("rule") or UNKNOWN_RULE,
        "worker_id": worker_id,
        "denied_attempt": task.attempt,
        "denials": denials,
    }
    return EventIn(
        actor=worker_id,
        action=SANDBOX_DENIED,
        resource_type="task",
        resource_id=task.id,
        details=details,
    )


def denial_reason(denials: list[dict[str, str]]) -> str:
    """A task's failure reason for a denial reported in a status (no error message to quote)."""
    if not denials:
        return "sandbox denied"
    first = denials[0]
    shown = first.get("path", "?")
    if first.get("resolved") and first["resolved"] != shown:
        shown = f"{shown!r} (resolves to {first['resolved']})"
    else:
        shown = repr(shown)
    more = f" and {len(denials) - 1} more" if len(denials) > 1 else ""
    return f"sandbox_denied: path {shown}{more} breaks rule {first.get('rule') or UNKNOWN_RULE}"
