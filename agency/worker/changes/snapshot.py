"""What changed in a workspace that is not a git repository: a walk before and after.

The walk never follows a symlink (a link is compared by its target text) and reads only
regular files, so a FIFO or a link out of the workspace cannot hang or leak through it.
Files up to ``HASH_MAX`` bytes are compared by content, larger ones by size and mtime.
The "before" walk keeps text only up to a budget (a diff past the cap is cut anyway); the
"after" side is read again for the changed files alone, once the task's processes are gone.
A modified file whose old text was not kept is listed, not diffed.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from agency.models import FileChange

HASH_MAX = 8 << 20
MAX_FILES = 20_000
SNIFF = 8192


@dataclass(frozen=True)
class FileState:
    """One file as a walk saw it; ``text`` is None for binary or not kept."""

    size: int
    mtime_ns: int
    digest: str | None
    text: str | None
    binary: bool


@dataclass
class Snapshot:
    """Every file under a root (relative paths), and whether the walk stopped early."""

    files: dict[str, FileState]
    complete: bool = True


def _decode(data: bytes) -> str | None:
    if b"\0" in data[:SNIFF]:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _read_regular(path: Path) -> bytes:
    """The bytes of a regular file, refusing one swapped for a link or a FIFO since its lstat."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(f"{path} is no longer a regular file")
        with os.fdopen(fd, "rb", closefd=False) as f:
            return f.read(HASH_MAX + 1)
    finally:
        os.close(fd)


def _state(path: Path, st: os.stat_result, keep_text: bool) -> FileState:
    if stat.S_ISLNK(st.st_mode):
        target = f"symlink -> {os.readlink(path)}\n"
        return FileState(st.st_size, st.st_mtime_ns, target, target, False)
    if st.st_size > HASH_MAX:
        return FileState(st.st_size, st.st_mtime_ns, None, None, True)
    data = _read_regular(path)
    text = _decode(data)
    return FileState(
        st.st_size,
        st.st_mtime_ns,
        hashlib.sha256(data).hexdigest(),
        text if keep_text else None,
        text is None,
    )


def take(root: Path, text_budget: int) -> Snapshot:
    """Walk ``root`` (skipping ``.git`` directories), keeping up to ``text_budget`` of text."""
    snap = Snapshot({})
    if not root.is_dir():
        return snap
    kept = 0
    for dirpath, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d != ".git")
        for name in sorted(names):
            path = Path(dirpath, name)
            try:
                st = path.lstat()
                if not (stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode)):
                    continue
                state = _state(path, st, keep_text=kept + st.st_size <= text_budget)
            except OSError:
                continue  # gone or unreadable while walking: not a change we can show
            if state.text is not None:
                kept += len(state.text)
            snap.files[str(path.relative_to(root))] = state
            if len(snap.files) >= MAX_FILES:
                snap.complete = False
                return snap
    return snap


def _changed(old: FileState, new: FileState) -> bool:
    if old.size != new.size:
        return True
    if old.digest is not None and new.digest is not None:
        return old.digest != new.digest
    return old.mtime_ns != new.mtime_ns


def compare(before: Snapshot, after: Snapshot) -> list[FileChange]:
    paths = sorted(before.files.keys() | after.files.keys())
    changes = []
    for path in paths:
        old, new = before.files.get(path), after.files.get(path)
        if old is None:
            changes.append(FileChange(path=path, status="added"))
        elif new is None:
            changes.append(FileChange(path=path, status="deleted"))
        elif _changed(old, new):
            changes.append(FileChange(path=path, status="modified"))
    return changes


def _lines(text: str) -> list[str]:
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n\\ No newline at end of file\n"
    return lines


def read_text(root: Path, path: str, limit: int) -> FileState | None:
    """The file's state with its text, when it is a text file of at most ``limit`` bytes."""
    full = root / path
    try:
        st = full.lstat()
        if st.st_size > limit or not (stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode)):
            return None
        return _state(full, st, keep_text=True)
    except OSError:
        return None


def file_diff(change: FileChange, old: FileState | None, new: FileState | None) -> tuple[str, bool]:
    """The ``git diff``-style section of one changed file, and whether it is complete."""
    path = change.path
    head = f"diff --git a/{path} b/{path}\n"
    if change.status == "added":
        head += "new file\n"
    elif change.status == "deleted":
        head += "deleted file\n"
    if (old is not None and old.binary) or (new is not None and new.binary):
        return head + f"Binary files a/{path} and b/{path} differ\n", True
    if (change.status != "added" and (old is None or old.text is None)) or (
        change.status != "deleted" and (new is None or new.text is None)
    ):
        return head + f"# {path}: content not kept (over the diff cap)\n", False
    before = _lines(old.text or "") if old is not None else []
    after = _lines(new.text or "") if new is not None else []
    body = difflib.unified_diff(
        before,
        after,
        fromfile=f"a/{path}" if change.status != "added" else "/dev/null",
        tofile=f"b/{path}" if change.status != "deleted" else "/dev/null",
    )
    return head + "".join(body), True
