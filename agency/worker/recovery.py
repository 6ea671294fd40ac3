"""What a restarted worker does about the attempts that were in flight when it died.

Their processes died with it (bubblewrap's ``--die-with-parent``) or are killed now (a plain
process group survives its parent); either way nobody watched them finish, so each attempt
becomes ``lost`` with reason ``worker-restarted`` and is never reported as a success.
"""

from __future__ import annotations

import logging

from agency.models import WorkerTaskState, WorkerTaskStatus, utcnow
from agency.worker import procs
from agency.worker.store import TaskRecord, TaskStore

log = logging.getLogger(__name__)

REASON = "worker-restarted"


def _ours(record: TaskRecord) -> bool:
    """Whether ``record.pgid`` still names the group this worker started (not a reused pid)."""
    if record.pgid is None or not procs.group_alive(record.pgid):
        return False
    started = procs.start_time(record.pgid)
    # a dead leader with live members keeps its pgid reserved, so the group is still ours
    return started is None or record.pid_start is None or started == record.pid_start


async def recover(store: TaskStore, grace: float) -> list[WorkerTaskStatus]:
    """Mark every in-flight attempt on disk as lost, killing its leftover processes first."""
    lost = []
    for record in store.all():
        status = record.status
        if status.state.terminal:
            continue
        reason = REASON
        if record.pgid is not None and _ours(record):
            gone = await procs.stop_group(record.pgid, grace)
            reason += (
                "; leftover processes killed" if gone else "; leftover processes would not die"
            )
        status.state = WorkerTaskState.LOST
        status.reason = reason
        status.finished_at = utcnow()
        store.save(record)
        log.warning("task %s attempt %s: %s", status.task_id, status.attempt, reason)
        lost.append(status)
    return lost
