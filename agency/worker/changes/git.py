"""What changed in a git repository: its working tree as a tree object, before and after.

``git add -A`` into a private index and ``git write-tree`` record the working tree as it is
(untracked files included, ignored ones not), and ``git diff <before> <after>`` compares
the two. The private index and a private object directory (the repository's own objects
as an alternate) live in a scratch directory outside the repository, so the user's index,
objects and refs are never touched.

The repository was writable by the task, and its config can name programs (fsmonitor,
filters, diff drivers) that git runs: so every git command runs in the task's sandbox,
where it can do no more than the task itself could.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable
from pathlib import Path

from agency.models import FileChange

GIT_TIMEOUT = 60.0
STATUS = {"A": "added", "D": "deleted"}  # everything else (M, T) is a modification

Wrap = Callable[[list[str], Path], list[str]]  # argv, cwd -> the sandboxed argv


async def _read(stream: asyncio.StreamReader, limit: int | None) -> tuple[bytes, bool]:
    """All of ``stream``, or its first ``limit`` bytes and True when there was more."""
    if limit is None:
        return await stream.read(), False
    chunks: list[bytes] = []
    size = 0
    while size <= limit:
        chunk = await stream.read(limit + 1 - size)
        if not chunk:
            return b"".join(chunks), False
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)[:limit], True


class GitError(Exception):
    """A git command of the change tracker failed (the changes carry its message)."""


def find_repo(cwd: Path, roots: tuple[Path, ...]) -> Path | None:
    """The nearest directory from ``cwd`` up holding ``.git``, without leaving the roots."""
    path = cwd
    while any(path == r or path.is_relative_to(r) for r in roots):
        if (path / ".git").exists():
            return path
        if path.parent == path:
            break
        path = path.parent
    return None


class GitTree:
    """Runs the few git commands of one attempt in ``repo``, with a private index."""

    def __init__(self, repo: Path, scratch: Path, wrap: Wrap) -> None:
        self.repo = repo
        self.scratch = scratch
        self.wrap = wrap
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(scratch),
            "LANG": "C.UTF-8",
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_INDEX_FILE": str(scratch / "index"),
        }

    async def run(self, *args: str, limit: int | None = None) -> tuple[bytes, bool]:
        """stdout of ``git <args>`` (at most ``limit`` bytes) and whether it was cut."""
        argv = self.wrap(["git", "-c", "core.quotepath=off", *args], self.repo)
        proc = await asyncio.create_subprocess_exec(
            *argv,
            cwd=self.repo,
            env=self.env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
        assert proc.stdout is not None and proc.stderr is not None
        errors = asyncio.ensure_future(proc.stderr.read())
        try:
            async with asyncio.timeout(GIT_TIMEOUT):
                out, cut = await _read(proc.stdout, limit)
                if cut:  # git blocks on the full pipe: it must go before stderr can end
                    with contextlib.suppress(ProcessLookupError):
                        proc.kill()
                err = await errors
                code = await proc.wait()
        except TimeoutError as exc:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
            errors.cancel()
            raise GitError(f"git {args[0]} took over {GIT_TIMEOUT:.0f}s") from exc
        if code != 0 and not cut:
            raise GitError(f"git {args[0]}: {err.decode(errors='replace').strip()[:500]}")
        return out, cut

    async def prepare(self) -> None:
        """Point the object directory at the scratch one, the repository's as an alternate."""
        self.scratch.mkdir(parents=True, exist_ok=True)
        (self.scratch / "objects").mkdir(exist_ok=True)
        out, _ = await self.run("rev-parse", "--path-format=absolute", "--git-common-dir")
        common = Path(out.decode().strip())
        self.env["GIT_OBJECT_DIRECTORY"] = str(self.scratch / "objects")
        self.env["GIT_ALTERNATE_OBJECT_DIRECTORIES"] = str(common / "objects")

    async def write_tree(self) -> str:
        await self.run("add", "-A", "--", ".")
        out, _ = await self.run("write-tree")
        return out.decode().strip()

    async def files(self, before: str, after: str) -> list[FileChange]:
        out, _ = await self.run("diff", "--name-status", "--no-renames", "-z", before, after)
        fields = out.decode(errors="replace").split("\0")
        changes = []
        for code, path in zip(fields[0::2], fields[1::2], strict=False):
            if code and path:
                status = STATUS.get(code[0], "modified")
                changes.append(FileChange(path=path, status=status))
        return changes

    async def diff(self, before: str, after: str, cap: int) -> tuple[str, bool]:
        out, cut = await self.run(
            "diff",
            "--no-color",
            "--no-ext-diff",
            "--no-textconv",
            "--no-renames",
            before,
            after,
            limit=cap,
        )
        text = out.decode(errors="replace")
        # a cut can end inside a character: drop what is left of it
        return (text.rstrip("\ufffd") if cut else text), cut
