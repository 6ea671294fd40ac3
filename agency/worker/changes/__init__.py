"""What one process attempt added, modified or deleted, with a unified diff of the text.

Where the task's cwd lies in a git repository inside the worker's roots, its working tree
is compared with ``git diff`` (see ``git``); otherwise the workspace is walked before and
after (see ``snapshot``). Either way the diff stops at ``AGENCY_CHANGES_MAX_BYTES`` and the
answer says so, and a failure to track never fails the task: it is reported in ``error``.
The record is written beside the attempt's output, so it is served after a restart too.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from collections.abc import Callable
from pathlib import Path

from agency.models import WorkspaceChanges
from agency.worker.changes import snapshot
from agency.worker.changes.git import GitError, GitTree, find_repo

log = logging.getLogger(__name__)

FILE = "changes.json"
BEFORE_TEXT_FACTOR = 4  # text kept from the "before" walk, in diff caps
MAX_FILES = 1000  # files listed in one answer

# (argv, workspace, cwd, writable paths) -> argv run in the task's sandbox
SandboxWrap = Callable[[list[str], Path, Path, list[Path]], list[str]]


def _cut(text: str, cap: int) -> str:
    """At most ``cap`` UTF-8 bytes of ``text``, never ending inside a character."""
    return text.encode()[:cap].decode(errors="ignore")


class ChangeTracker:
    """Takes the "before" of one attempt at its start and the changes at its end."""

    def __init__(
        self,
        task_id: str,
        attempt: int,
        workspace: Path,
        cwd: Path,
        roots: tuple[Path, ...],
        cap: int,
        scratch: Path,
        wrap: SandboxWrap,
    ) -> None:
        self.task_id = task_id
        self.attempt = attempt
        self.workspace = workspace
        self.cap = cap
        self.scratch = scratch
        repo = find_repo(cwd, roots)
        self.git = (
            GitTree(repo, scratch, lambda argv, at: wrap(argv, workspace, at, [scratch]))
            if repo is not None
            else None
        )
        self.tree: str | None = None
        self.before: snapshot.Snapshot | None = None
        self.error: str | None = None

    @property
    def root(self) -> Path:
        return self.git.repo if self.git is not None else self.workspace

    async def start(self, fresh: bool) -> None:
        """Record the "before"; ``fresh`` (a workspace just made) needs no walk."""
        try:
            if self.git is not None:
                await self.git.prepare()
                self.tree = await self.git.write_tree()
            elif fresh:
                self.before = snapshot.Snapshot({})
            else:
                self.before = await asyncio.to_thread(
                    snapshot.take, self.workspace, self.cap * BEFORE_TEXT_FACTOR
                )
        except (GitError, OSError) as exc:
            self.error = f"changes not tracked: {exc}"
            log.warning("task %s: %s", self.task_id, self.error)

    def discard(self) -> None:
        """The process never started: nothing to compare, only the scratch to remove."""
        shutil.rmtree(self.scratch, ignore_errors=True)

    async def finish(self) -> WorkspaceChanges:
        """Compare with the "before" (the task's processes are gone by now)."""
        answer = WorkspaceChanges(
            task_id=self.task_id,
            attempt=self.attempt,
            method="git" if self.git is not None else "snapshot",
            root=str(self.root),
            cap_bytes=self.cap,
            error=self.error,
        )
        try:
            if self.git is not None and self.tree is not None:
                after = await self.git.write_tree()
                answer.files = await self.git.files(self.tree, after)
                answer.diff, answer.truncated = await self.git.diff(self.tree, after, self.cap)
            elif self.before is not None:
                await asyncio.to_thread(self._compare, answer, self.before)
        except (GitError, OSError) as exc:
            answer.error = f"changes not tracked: {exc}"
            log.warning("task %s: %s", self.task_id, answer.error)
        finally:
            shutil.rmtree(self.scratch, ignore_errors=True)
        if len(answer.files) > MAX_FILES:
            answer.files, answer.truncated = answer.files[:MAX_FILES], True
        return answer

    def _compare(self, answer: WorkspaceChanges, before: snapshot.Snapshot) -> None:
        after = snapshot.take(self.workspace, 0)
        answer.files = snapshot.compare(before, after)
        answer.truncated = not (before.complete and after.complete)
        parts: list[str] = []
        size = 0
        for change in answer.files:
            new = (
                None
                if change.status == "deleted"
                else snapshot.read_text(self.workspace, change.path, self.cap)
                or after.files.get(change.path)
            )
            section, whole = snapshot.file_diff(change, before.files.get(change.path), new)
            answer.truncated |= not whole
            length = len(section.encode())
            if size + length > self.cap:
                parts.append(_cut(section, self.cap - size))
                answer.truncated = True
                break
            parts.append(section)
            size += length
        answer.diff = "".join(parts)
