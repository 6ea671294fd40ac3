"""Child tasks: a task's parent link, what a task token may reach, and its token's minting.

A child names its parent in ``parent_id``; the parent must exist and must not be on its way
out (``cancel_requested``, ``canceling`` or ``canceled``: its cancel has already gone down
the tree). A task token (``Principal.scope``) submits only children of its own task and reads
only that task and its descendants; ``OutOfScope`` (403) names what it reached for.
"""

from __future__ import annotations

from datetime import timedelta

from agency.control.refusals import Refusals
from agency.control.task_tokens import TaskTokens, actor_of
from agency.control.tasks.book import Book
from agency.control.tasks.lifecycle import effective_deadline
from agency.errors import Conflict, OutOfScope, ValidationFailed
from agency.models import EventIn, Task, TaskState, TaskSubmit, utcnow

#: a deeper tree is refused a scope check rather than walked without end
MAX_DEPTH = 64
#: a task token outlives its attempt's deadline by this much, so the task can still report
TOKEN_MARGIN = timedelta(seconds=60)
#: the kinds that run a process, and so get a token
PROCESS_KINDS = frozenset({"shell", "agent"})
_ENDING = (TaskState.CANCEL_REQUESTED, TaskState.CANCELING, TaskState.CANCELED)
_LIVE = (TaskState.DISPATCHED, TaskState.RUNNING)


class Lineage:
    """Parent links over the book (live tasks) and the task table (finished ones)."""

    def __init__(
        self, book: Book, tokens: TaskTokens, token_ttl: float, refusals: Refusals
    ) -> None:
        self.book = book
        self.tokens = tokens
        self.token_ttl = timedelta(seconds=token_ttl)
        self.refusals = refusals
        tokens.live = self.running

    def _refused(self, scope: str, resource_id: str, message: str, **details: str) -> OutOfScope:
        """The refusal of a task token reaching beyond its subtree, audited like the gate's
        (``auth.forbidden``, sampled per task and resource)."""
        exc = OutOfScope(message, details={**details, "scope": scope})
        actor = actor_of(scope)
        self.refusals.refuse(
            "auth.forbidden",
            actor=actor,
            resource_type="task",
            resource_id=resource_id,
            address=None,
            reason=message,
            key=(actor, resource_id),
            code=exc.code,
            scope=actor,
        )
        return exc

    def running(self, task_id: str, attempt: int) -> bool:
        """Whether ``task_id``'s attempt ``attempt`` still runs (its token is good)."""
        task = self.book.get(task_id)
        return task is not None and task.attempt == attempt and task.state in _LIVE

    def mint(self, task: Task) -> str | None:
        """The token of ``task``'s current attempt (None for a kind without a process)."""
        if task.kind not in PROCESS_KINDS:
            return None
        ends = effective_deadline(task)
        expires = (ends if ends is not None else utcnow() + self.token_ttl) + TOKEN_MARGIN
        return self.tokens.mint(task.id, task.attempt, expires)

    async def _find(self, task_id: str) -> Task | None:
        return self.book.latest(task_id) or await self.book.repos.tasks.get(task_id)

    async def check(self, reqs: list[TaskSubmit], scope: str | None) -> list[TaskSubmit]:
        """``reqs`` with their parents checked; a task token's default to its own task."""
        if scope is not None:
            for req in reqs:
                if req.parent_id is not None and req.parent_id != scope:
                    raise self._refused(
                        scope,
                        req.parent_id,
                        f"parent_id: a task token may only submit children of task {scope}",
                        field="parent_id",
                        parent_id=req.parent_id,
                    )
            reqs = [r if r.parent_id else r.model_copy(update={"parent_id": scope}) for r in reqs]
        for parent_id in sorted({r.parent_id for r in reqs if r.parent_id is not None}):
            parent = await self._find(parent_id)
            if parent is None:
                raise ValidationFailed(
                    f"parent_id: no task {parent_id}",
                    details={"field": "parent_id", "parent_id": parent_id},
                )
        return reqs

    @staticmethod
    def announce(tasks: list[Task], actor: str) -> list[EventIn]:
        """A ``task.child_added`` event on each new child's parent, written with the child:
        the parent's own timeline shows what it delegated."""
        return [
            EventIn(
                actor=actor,
                action="task.child_added",
                resource_type="task",
                resource_id=t.parent_id,
                details={"child_id": t.id, "kind": t.kind},
            )
            for t in tasks
            if t.parent_id is not None
        ]

    def refuse_foreign_keys(self, known: dict[str, Task], scope: str) -> None:
        """A task token's idempotency key that names a task outside its children would
        answer with that task: refused, without saying which task holds it."""
        for task in known.values():
            if task.parent_id != scope:
                raise self._refused(
                    scope,
                    task.id,
                    "idempotency_key: this key belongs to a task outside this task's children",
                    field="idempotency_key",
                )

    def refuse_ending(self, reqs: list[TaskSubmit]) -> None:
        """Refuse children of a parent being canceled; called right before the submit is
        staged (no await in between), so a cancel's cascade can never miss a child."""
        for req in reqs:
            parent = self.book.latest(req.parent_id) if req.parent_id else None
            if parent is not None and parent.state in _ENDING:
                raise Conflict(
                    f"parent_id: task {parent.id} is {parent.state.value}; it takes no new children",
                    details={
                        "field": "parent_id",
                        "parent_id": parent.id,
                        "state": parent.state.value,
                    },
                )

    async def within(self, scope: str, task_id: str) -> bool:
        """Whether ``task_id`` is ``scope`` or one of its descendants."""
        current: str | None = task_id
        for _ in range(MAX_DEPTH):
            if current is None:
                return False
            if current == scope:
                return True
            task = await self._find(current)
            current = task.parent_id if task is not None else None
        return False

    async def require_within(self, scope: str | None, task_id: str) -> None:
        """``OutOfScope`` unless a task token (``scope``) may read ``task_id``."""
        if scope is not None and not await self.within(scope, task_id):
            raise self._refused(
                scope,
                task_id,
                f"a task token of task {scope} may only read that task and its descendants",
                task_id=task_id,
            )

    async def require_stream(
        self, scope: str, resource_type: str | None, resource_id: str | None
    ) -> None:
        """``OutOfScope`` unless a task token's event stream follows one task of its subtree."""
        if resource_type != "task" or resource_id is None:
            raise self._refused(
                scope,
                resource_id or "*",
                "a task token may only follow the events of one task of its subtree "
                "(resource_type=task&resource_id=<id>)",
                resource_type=str(resource_type),
            )
        await self.require_within(scope, resource_id)
