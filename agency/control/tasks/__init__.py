"""The orchestrator: task lifecycle, dispatch, visible cancel, crash recovery, locks, KPIs.

``Orchestrator`` is the one object the API calls; ``replay_task`` rebuilds a task from its
events (the audit trail is the task's history, and a test checks the two agree).
"""

from agency.control.tasks.actions import BulkFilter, BulkResult, TaskActions
from agency.control.tasks.core import Orchestrator
from agency.control.tasks.lifecycle import replay_task

__all__ = ["BulkFilter", "BulkResult", "Orchestrator", "TaskActions", "replay_task"]
