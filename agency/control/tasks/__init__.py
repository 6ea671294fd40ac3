"""Tasks: lifecycle, dispatch, visible cancel, crash recovery, locks, KPIs (the orchestrator).

``Orchestrator`` is the tasks service; ``replay_task`` rebuilds a task from its events (the
audit trail is the task's history, and a test checks the two agree). ``TaskQuery``,
``SortField`` and ``TaskPage`` are the listing's filters, orders and pages.
"""

from agency.control.tasks.actions import BulkFilter, BulkResult, TaskActions
from agency.control.tasks.core import Orchestrator, TaskHistory
from agency.control.tasks.lifecycle import replay_task
from agency.storage import TaskPage, TaskQuery
from agency.storage.tasks import SortField

__all__ = [
    "BulkFilter",
    "BulkResult",
    "Orchestrator",
    "SortField",
    "TaskActions",
    "TaskHistory",
    "TaskPage",
    "TaskQuery",
    "replay_task",
]
