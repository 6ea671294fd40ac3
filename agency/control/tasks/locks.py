"""Resource locks: two tasks holding the same lock name never run at once.

A task holds its locks exactly while it is in flight (dispatched, running, canceling). The
table lives in memory and is rebuilt from the in-flight tasks when the orchestrator starts,
so a crash never leaves a lock held by a task that is gone.
"""

from __future__ import annotations

from collections.abc import Iterable


class LockTable:
    """Which task holds each lock, and which tasks wait for which locks."""

    def __init__(self) -> None:
        self._holder: dict[str, str] = {}
        self._waiters: dict[str, set[str]] = {}

    def blocked_by(self, task_id: str, locks: Iterable[str]) -> list[str]:
        """The locks of ``locks`` that another task holds (sorted)."""
        return sorted(name for name in set(locks) if self._holder.get(name, task_id) != task_id)

    def acquire(self, task_id: str, locks: Iterable[str]) -> list[str]:
        """Take every lock or none; returns the ones that block (empty when acquired)."""
        wanted = set(locks)
        blocking = self.blocked_by(task_id, wanted)
        if blocking:
            for name in blocking:
                self._waiters.setdefault(name, set()).add(task_id)
            return blocking
        for name in wanted:
            self._holder[name] = task_id
            waiting = self._waiters.get(name)
            if waiting is not None:
                waiting.discard(task_id)
                if not waiting:
                    del self._waiters[name]
        return []

    def release(self, task_id: str, locks: Iterable[str]) -> set[str]:
        """Give back ``task_id``'s locks; returns the ids of the tasks that waited for them."""
        woken: set[str] = set()
        for name in set(locks):
            if self._holder.get(name) == task_id:
                del self._holder[name]
                woken |= self._waiters.pop(name, set())
        return woken

    def forget(self, task_id: str) -> None:
        """Stop counting ``task_id`` as a waiter (it was canceled or failed while waiting)."""
        for name in [n for n, ids in self._waiters.items() if task_id in ids]:
            self._waiters[name].discard(task_id)
            if not self._waiters[name]:
                del self._waiters[name]

    def holder(self, name: str) -> str | None:
        return self._holder.get(name)

    def held(self) -> dict[str, str]:
        return dict(self._holder)
