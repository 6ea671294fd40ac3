"""Turn a validated shell or agent spec into the argv, env and paths of its process.

Nothing here goes through a shell: a shell spec is an argv list, and the agent command
template is split once with ``shlex`` and the prompt substituted as one argument (the
``claude`` and ``codex`` runtimes build their argv in ``agency.worker.agents``).
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass
from pathlib import Path

from agency.errors import InvalidSpec
from agency.models import AgentSpec, ShellSpec
from agency.settings import Settings
from agency.worker.agents import AgentPlan, plan_agent

DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"
PROMPT = "{prompt}"


def agent_argv(template: str, prompt: str) -> list[str]:
    """``shlex.split(template)`` with ``{prompt}`` replaced inside each element (never re-split).

    A template without ``{prompt}`` gets the prompt appended as its last argument.
    """
    try:
        parts = shlex.split(template)
    except ValueError as exc:
        raise InvalidSpec(f"AGENCY_AGENT_COMMAND cannot be split: {exc}") from exc
    if not parts:
        raise InvalidSpec("AGENCY_AGENT_COMMAND is empty")
    if not any(PROMPT in p for p in parts):
        return [*parts, prompt]
    return [p.replace(PROMPT, prompt) for p in parts]


def minimal_env(workspace: Path, task_id: str, attempt: int) -> dict[str, str]:
    """The base env of every task: no worker secrets or settings leak through it."""
    return {
        "PATH": os.environ.get("PATH", DEFAULT_PATH),
        "HOME": str(workspace),
        "LANG": os.environ.get("LANG", "C.UTF-8"),
        "TMPDIR": "/tmp",
        "AGENCY_TASK_ID": task_id,
        "AGENCY_ATTEMPT": str(attempt),
    }


def agency_env(control_plane: str | None, token: str | None) -> dict[str, str]:
    """``AGENCY_URL`` and ``AGENCY_TOKEN`` for a process task, so it can submit and read its
    own child tasks (``agency task submit --wait``, ``AgencyClient()``): the control plane
    this worker reports to, and the attempt's token, scoped to that task's children."""
    env: dict[str, str] = {}
    if control_plane:
        env["AGENCY_URL"] = control_plane.rstrip("/")
    if token:
        env["AGENCY_TOKEN"] = token
    return env


@dataclass(frozen=True)
class Plan:
    """The process a spec asks for, before secrets are resolved and the sandbox wraps it."""

    argv: list[str]
    env: dict[str, str]
    cwd: str | None
    files: list[str]
    timeout: float | None
    agent: AgentPlan | None = None  # an agent spec: its runtime, parser and budget


def plan(spec: ShellSpec | AgentSpec, settings: Settings) -> Plan:
    if isinstance(spec, ShellSpec):
        return Plan(list(spec.argv), dict(spec.env), spec.cwd, list(spec.files), spec.timeout)
    agent = plan_agent(spec, settings, lambda prompt: agent_argv(settings.agent_command, prompt))
    return Plan(agent.argv, dict(spec.env), spec.cwd, [], spec.timeout, agent)


def effective_timeout(spec_timeout: float | None, deadline_in: float | None) -> float | None:
    """The earlier of the spec's timeout and the time left to the request's deadline."""
    limits = [t for t in (spec_timeout, deadline_in) if t is not None]
    return min(limits) if limits else None
