"""Why a pending task no worker takes is waiting, in the words ``waiting_for`` carries.

The dispatcher asks only when it found no worker for a task. A task whose kind and labels
no registered worker carries would otherwise sit ``pending`` with no explanation; a task
whose only fitting workers are down or behind open breakers likewise. Workers merely full
are the normal case of a queue and give no reason (the task simply waits its turn), and so
is a fleet with no worker registered yet (a control plane starting before its workers).
"""

from __future__ import annotations

from collections.abc import Iterable

from agency.models import Task, WorkerHealth, WorkerInfo
from agency.models.schedules import PROVENANCE_LABELS

#: prefixes of the reasons this module writes, so the dispatcher can clear only its own
PREFIXES = ("labels:", "kind:", "breaker:", "worker_down:")


def unplaced_reasons(task: Task, workers: Iterable[WorkerInfo]) -> list[str]:
    """``labels:k=v,…`` when no worker carries the task's kind and labels; ``breaker:<id>`` /
    ``worker_down:<id>`` when every worker that does is refusing; else ``[]`` (they are busy,
    or there is no worker at all yet)."""
    workers = list(workers)
    if not workers:
        return []
    need = {k: v for k, v in task.labels.items() if k not in PROVENANCE_LABELS}
    carriers = [
        w
        for w in workers
        if task.kind in w.kinds and all(w.labels.get(k) == v for k, v in need.items())
    ]
    if not carriers:
        if need:
            return ["labels:" + ",".join(f"{k}={v}" for k, v in sorted(need.items()))]
        return [f"kind:{task.kind}"]
    if any(w.health is WorkerHealth.HEALTHY and w.breaker != "open" for w in carriers):
        return []
    return [f"breaker:{w.id}" if w.breaker == "open" else f"worker_down:{w.id}" for w in carriers]


def own(waiting_for: list[str]) -> bool:
    """Whether ``waiting_for`` was written by ``unplaced_reasons`` (and so may be cleared)."""
    return bool(waiting_for) and all(w.startswith(PREFIXES) for w in waiting_for)
