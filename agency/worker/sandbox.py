"""The worker's sandbox: path checks against the allowed roots, and bubblewrap.

Every path a spec names is resolved (symlinks, ``..``) before it is compared with the roots,
so ``../../etc/passwd`` or a symlink pointing out of a workspace is refused. Where bubblewrap
works the process also runs inside it: ``/`` read-only (``/tmp`` included), its workspace
writable, ``TMPDIR`` a private per-task directory beside the workspace, fresh ``/proc`` and
``/dev``, its own PID namespace (so killing the sandbox kills everything in it) and
``--die-with-parent``. ``/tmp`` is not replaced by a tmpfs: that would hide whatever lives
under it, such as a checkout and virtual environment the agent CLI runs from.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from agency.errors import SandboxDenied

log = logging.getLogger(__name__)

SandboxMode = Literal["auto", "required", "off"]

RULE_OUTSIDE_ROOTS = "outside-allowed-roots"


@dataclass(frozen=True)
class Denial:
    """One refused path: what the spec said, what it resolved to, and the rule it broke."""

    path: str
    resolved: str
    rule: str

    def as_dict(self) -> dict[str, str]:
        return {"path": self.path, "resolved": self.resolved, "rule": self.rule}


def resolve_in(base: Path, path: str) -> Path:
    """Resolve ``path`` (relative to ``base`` unless absolute), following symlinks and ``..``."""
    return (base / path).resolve(strict=False)


def is_within(path: Path, roots: tuple[Path, ...]) -> bool:
    return any(path == root or path.is_relative_to(root) for root in roots)


def check_paths(base: Path, paths: list[str], roots: tuple[Path, ...]) -> list[Denial]:
    """Every path of ``paths`` that resolves outside ``roots``, as denials."""
    denials = []
    for raw in paths:
        resolved = resolve_in(base, raw)
        if not is_within(resolved, roots):
            denials.append(Denial(raw, str(resolved), RULE_OUTSIDE_ROOTS))
    return denials


def denied_error(denials: list[Denial], roots: tuple[Path, ...]) -> SandboxDenied:
    first = denials[0]
    return SandboxDenied(
        f"path {first.path!r} resolves to {first.resolved}, outside the worker's allowed roots "
        f"({', '.join(str(r) for r in roots)})",
        details={
            "path": first.path,
            "resolved": first.resolved,
            "rule": first.rule,
            "denials": [d.as_dict() for d in denials],
        },
    )


def probe_bwrap(binary: str | None = None, timeout: float = 10.0) -> str | None:
    """Run a trivial command in bubblewrap; the reason it does not work, or None when it does.

    User namespaces are often unavailable in containers, so being installed is not enough.
    """
    binary = binary or shutil.which("bwrap")
    if not binary:
        return "bwrap is not installed (Debian package bubblewrap)"
    argv = [binary, *_base_args(), "--", "true"]
    try:
        done = subprocess.run(argv, capture_output=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bwrap probe failed: {exc}"
    if done.returncode != 0:
        err = done.stderr.decode(errors="replace").strip()
        return f"bwrap probe exited {done.returncode}: {err or 'no message'}"
    return None


def _base_args() -> list[str]:
    return [
        "--ro-bind",
        "/",
        "/",
        "--dev",
        "/dev",
        "--proc",
        "/proc",
        "--unshare-pid",
        "--die-with-parent",
    ]


def task_tmpdir(workspace: Path) -> Path:
    """The task's private, writable TMPDIR under bubblewrap (beside, not inside, the workspace,
    so scratch files are not reported as changed files)."""
    return workspace.parent / f"{workspace.name}.tmp"


class Sandbox:
    """Decides where a task may touch files, and wraps its argv in bubblewrap when enabled."""

    def __init__(
        self, roots: tuple[Path, ...], mode: SandboxMode, bwrap: str | None = None
    ) -> None:
        self.roots = roots
        self.mode = mode
        self.bwrap: str | None = None
        self.unavailable_reason: str | None = None
        if mode == "off":
            return
        binary = bwrap or shutil.which("bwrap")
        reason = probe_bwrap(binary)
        if reason is None and binary is not None:
            self.bwrap = binary
        else:
            self.unavailable_reason = reason
            log.warning("sandbox: bubblewrap unavailable (%s); mode=%s", reason, mode)

    @property
    def kind(self) -> str:
        """What ``GET /status`` shows: ``bwrap``, ``none`` or ``unavailable`` (required but broken)."""
        if self.bwrap:
            return "bwrap"
        return "unavailable" if self.mode == "required" else "none"

    @property
    def process_name(self) -> str | None:
        """The sandbox's own process name (as in ``/proc/<pid>/comm``), or None without one."""
        return Path(self.bwrap).name[:15] if self.bwrap else None

    @property
    def refuses_processes(self) -> bool:
        """Fail closed: ``required`` without a working bubblewrap runs no process at all."""
        return self.mode == "required" and self.bwrap is None

    def check(self, workspace: Path, paths: list[str]) -> list[Denial]:
        return check_paths(workspace, paths, self.roots)

    def wrap(self, argv: list[str], workspace: Path, cwd: Path, writable: list[Path]) -> list[str]:
        """``argv`` unchanged without bubblewrap, else the bubblewrap command that runs it."""
        if self.bwrap is None:
            return argv
        tmpdir = task_tmpdir(workspace)
        tmpdir.mkdir(parents=True, exist_ok=True)
        args = [
            self.bwrap,
            *_base_args(),
            "--bind",
            str(workspace),
            str(workspace),
            "--bind",
            str(tmpdir),
            str(tmpdir),
            "--setenv",
            "TMPDIR",
            str(tmpdir),
        ]
        for path in writable:
            target = path if path.exists() else path.parent
            if target.exists() and target != workspace:
                args += ["--bind", str(target), str(target)]
        args += ["--chdir", str(cwd), "--", *argv]
        return args
