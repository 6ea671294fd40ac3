"""Process-group helpers: is a group still alive, and stop it (SIGTERM, then SIGKILL).

A task is only ``canceled`` once every process of its group is gone, so liveness is read from
``/proc`` (zombies waiting for init to reap them do not count as alive) with a fallback to
``killpg(pgid, 0)`` where ``/proc`` is missing.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from pathlib import Path

PROC = Path("/proc")


def _stat_fields(pid: int | str) -> list[str] | None:
    try:
        raw = (PROC / str(pid) / "stat").read_text()
    except (OSError, ValueError):
        return None
    # the command name may hold spaces and parentheses: split after the last ')'
    return raw[raw.rfind(")") + 2 :].split()


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) pids whose process group is ``pgid``."""
    if not PROC.is_dir():
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return []
        except PermissionError:
            return [pgid]
        return [pgid]
    members = []
    for entry in os.scandir(PROC):
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(entry.name)
        # fields[0] is the state, fields[2] the process group
        if fields and fields[0] not in ("Z", "X") and int(fields[2]) == pgid:
            members.append(int(entry.name))
    return members


def group_alive(pgid: int) -> bool:
    return bool(group_members(pgid))


def pid_alive(pid: int) -> bool:
    fields = _stat_fields(pid)
    return fields is not None and fields[0] not in ("Z", "X")


def start_time(pid: int) -> int | None:
    """Kernel start time of ``pid`` in clock ticks: with the pid it identifies one process."""
    fields = _stat_fields(pid)
    return int(fields[19]) if fields else None


def comm(pid: int) -> str:
    try:
        return (PROC / str(pid) / "comm").read_text().strip()
    except OSError:
        return ""


def signal_group(pgid: int, sig: signal.Signals, spare: str | None = None) -> bool:
    """Send ``sig`` to the group, except members named ``spare``; False when it is gone."""
    if spare is None:
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return False
        return True
    members = group_members(pgid)
    for pid in members:
        if comm(pid) != spare:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
    return bool(members)


async def wait_group_gone(pgid: int, timeout: float, poll: float = 0.02) -> bool:
    """Wait until the group has no live member; True if it went within ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        if not group_alive(pgid):
            return True
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(poll)


async def stop_group(pgid: int, grace: float, spare: str | None = None) -> bool:
    """SIGTERM the group, SIGKILL it after ``grace`` seconds; True once every member is gone.

    ``spare`` names processes that must not get the SIGTERM: bubblewrap dies of it at once
    and takes its whole PID namespace along, which would skip the task's grace period. It
    exits by itself when the task does, and gets the SIGKILL like everyone else.
    """
    if signal_group(pgid, signal.SIGTERM, spare) and await wait_group_gone(pgid, grace):
        return True
    signal_group(pgid, signal.SIGKILL)
    # SIGKILL cannot be ignored; the bound only guards against a process stuck in the kernel
    return await wait_group_gone(pgid, 10.0)
