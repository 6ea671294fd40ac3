"""Quality gates on finished tasks.

A task with gates that succeeds and lists changed files is checked by
``agency.governance.evaluate_gates`` on those files (paths on the worker's machine: local
workers share the disk). ``changes_requested`` makes the task ``rejected``; a waiver
(``agency.control.waivers``) may then accept it.
"""

from __future__ import annotations

import asyncio

from agency.governance import Verdict, evaluate_gates
from agency.models import Task


class Gates:
    """Evaluates a task's gates on the files its attempt changed."""

    async def evaluate(self, task: Task, changed_files: list[str]) -> Verdict | None:
        """The verdict on ``changed_files``, or ``None`` when the task has no gates or files."""
        if not task.gates or not changed_files:
            return None
        # the scan reads files: off the event loop
        return await asyncio.to_thread(evaluate_gates, list(task.gates), list(changed_files))
