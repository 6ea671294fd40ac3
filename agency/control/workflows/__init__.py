"""Workflows: DAGs of tasks with a checkpoint at every step transition (issue 20).

``graph`` decides what a run's steps do next (pure), ``record`` turns transitions into events
and rebuilds a run from them, ``engine`` advances live runs as their tasks finish, and
``service`` is the front the API calls: definitions, runs, cancel, retry, approve, reject.
"""

from agency.control.workflows.engine import WorkflowEngine, task_key
from agency.control.workflows.service import WorkflowService

__all__ = ["WorkflowEngine", "WorkflowService", "task_key"]
