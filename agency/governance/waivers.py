"""Waiver rules, as pure functions over ``agency.models.Waiver``.

A waiver overrides a gate's rejection: one operator asks (with a reason), a *different*
operator approves or denies (with a reason). Storage and events are the orchestrator's job;
these functions only decide what is allowed and return the new record.
"""

from __future__ import annotations

from collections.abc import Iterable

from agency.errors import Conflict, Forbidden, ValidationFailed
from agency.models import Task, TaskState, Waiver, WaiverState, new_id, utcnow

MAX_REASON = 2000


def _reason(reason: str | None, what: str) -> str:
    text = (reason or "").strip()
    if not text:
        raise ValidationFailed(f"a {what} needs a reason", details={"field": "reason"})
    if len(text) > MAX_REASON:
        raise ValidationFailed(
            f"the reason is longer than {MAX_REASON} characters", details={"field": "reason"}
        )
    return text


def _same_actor(a: str, b: str) -> bool:
    return a.strip().casefold() == b.strip().casefold()


def require_second_person(
    actor: str, requester: str, message: str, details: dict[str, str]
) -> None:
    """The two-person rule: ``Forbidden`` (with ``message``) when ``actor`` is ``requester``."""
    if _same_actor(actor, requester):
        raise Forbidden(message, details=details)


def request_waiver(task: Task, actor: str, reason: str, existing: Iterable[Waiver] = ()) -> Waiver:
    """A new waiver request for ``task``, which must be ``rejected`` and have none pending."""
    if not actor.strip():
        raise ValidationFailed("a waiver request needs an actor", details={"field": "actor"})
    if task.state is not TaskState.REJECTED:
        raise Conflict(
            f"only a rejected task can be waived; task {task.id} is {task.state.value}",
            details={"task_id": task.id, "state": task.state.value},
        )
    text = _reason(reason, "waiver request")
    pending = [w.id for w in existing if w.task_id == task.id and w.state is WaiverState.REQUESTED]
    if pending:
        raise Conflict(
            f"task {task.id} already has a pending waiver {pending[0]}",
            details={"task_id": task.id, "waiver_id": pending[0]},
        )
    return Waiver(id=new_id(), task_id=task.id, requested_by=actor, reason=text)


def decide_waiver(waiver: Waiver, actor: str, approve: bool, reason: str) -> Waiver:
    """The decided waiver: ``Forbidden`` for the requester, ``Conflict`` if already decided."""
    if waiver.state is not WaiverState.REQUESTED:
        raise Conflict(
            f"waiver {waiver.id} was already {waiver.state.value} by {waiver.decided_by}",
            details={"waiver_id": waiver.id, "state": waiver.state.value},
        )
    if not actor.strip():
        raise ValidationFailed("a waiver decision needs an actor", details={"field": "actor"})
    require_second_person(
        actor,
        waiver.requested_by,
        f"{actor} requested waiver {waiver.id}: a different operator must decide it",
        {"waiver_id": waiver.id, "requested_by": waiver.requested_by},
    )
    return waiver.model_copy(
        update={
            "state": WaiverState.APPROVED if approve else WaiverState.DENIED,
            "decided_by": actor,
            "decision_reason": _reason(reason, "waiver decision"),
            "decided_at": utcnow(),
        }
    )
