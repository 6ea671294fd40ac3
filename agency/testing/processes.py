"""Child processes of a test or benchmark: a clean environment, a stop that always ends them,
and whether a process is still there."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

__all__ = ["BIN", "clean_env", "pid_alive", "stop_process"]

#: the directory of this interpreter's console scripts (``agency``, ``panel``, ``jupyter``)
BIN = Path(sys.executable).parent


def clean_env(settings: Mapping[str, str] | None = None) -> dict[str, str]:
    """The caller's environment without any ``AGENCY_*`` variable, plus ``settings``.

    A child must see only the settings its test gives it: an ``AGENCY_TOKEN`` or
    ``AGENCY_DATA_DIR`` in the developer's shell would otherwise leak into it.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENCY_")}
    env.update(settings or {})
    return env


def stop_process(proc: subprocess.Popen[bytes], grace: float = 15.0) -> int:
    """SIGTERM, then SIGKILL after ``grace`` seconds; the exit code.

    A process started in its own session (``start_new_session=True``) is killed with its whole
    group, so what it started cannot outlive it; any other is killed alone.
    """
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            if os.getpgid(proc.pid) == proc.pid:
                os.killpg(proc.pid, signal.SIGKILL)
            else:
                proc.kill()
            proc.wait(10)
    return int(proc.returncode)


def pid_alive(pid: int) -> bool:
    """Whether a process exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
