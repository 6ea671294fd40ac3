"""One small JSON file per task attempt in the worker's state dir.

Written on every state change of a process-backed task (never for no-op tasks: that path is
benchmarked and keeps no disk state), atomically (temp file + rename), so a worker that died
mid-task finds on restart what it was running and the process group it must not leave behind.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from pydantic import BaseModel, ValidationError

from agency.models import WorkerTaskStatus

log = logging.getLogger(__name__)


class TaskRecord(BaseModel):
    """What a worker persists about one attempt: its status and how to find its processes."""

    status: WorkerTaskStatus
    pgid: int | None = None
    pid_start: int | None = None  # kernel start time of the leader: guards against pid reuse


def task_key(task_id: str, attempt: int) -> str:
    return f"{task_id}-{attempt}"


class TaskStore:
    """Reads and writes the per-task JSON files under ``directory``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path(self, task_id: str, attempt: int) -> Path:
        return self.directory / f"{task_key(task_id, attempt)}.json"

    def save(self, record: TaskRecord) -> None:
        target = self.path(record.status.task_id, record.status.attempt)
        tmp = target.with_suffix(".tmp")
        tmp.write_text(record.model_dump_json())
        os.replace(tmp, target)

    def load(self, task_id: str, attempt: int) -> TaskRecord | None:
        return self._read(self.path(task_id, attempt))

    def latest(self, task_id: str) -> TaskRecord | None:
        """The highest attempt on disk of ``task_id``."""
        best: TaskRecord | None = None
        for path in self.directory.glob(f"{task_id}-*.json"):
            record = self._read(path)
            if (
                record
                and record.status.task_id == task_id
                and (best is None or record.status.attempt > best.status.attempt)
            ):
                best = record
        return best

    def all(self) -> list[TaskRecord]:
        records = []
        for path in sorted(self.directory.glob("*.json")):
            record = self._read(path)
            if record is not None:
                records.append(record)
        return records

    def _read(self, path: Path) -> TaskRecord | None:
        try:
            return TaskRecord.model_validate_json(path.read_bytes())
        except FileNotFoundError:
            return None
        except (OSError, ValidationError) as exc:
            log.warning("worker state: unreadable task record %s: %s", path, exc)
            return None
