"""The agent runtimes of the reference worker, chosen by ``spec.runtime``.

``claude`` and ``codex`` run those CLIs with their JSON output on and parse it into a
transcript; ``command`` is the generic ``AGENCY_AGENT_COMMAND`` template, whose output is
kept as plain text. Nothing goes through a shell: each binary setting is split once with
``shlex`` and every value (prompt, model, session id) is one argv element.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import dataclass

from agency.errors import InvalidSpec
from agency.models import AgentSpec
from agency.models.pricing import PriceTable
from agency.settings import Settings
from agency.worker.agents import claude, codex
from agency.worker.agents.base import BUDGET_EXCEEDED, Budget, StreamParser
from agency.worker.agents.claude import ClaudeParser
from agency.worker.agents.codex import CodexParser

__all__ = ["BUDGET_EXCEEDED", "AgentPlan", "Budget", "StreamParser", "plan_agent"]

ArgvBuilder = Callable[[list[str], AgentSpec, str], list[str]]
RUNTIMES: dict[str, tuple[ArgvBuilder, type[StreamParser]]] = {
    "claude": (claude.argv, ClaudeParser),
    "codex": (codex.argv, CodexParser),
}


@dataclass(frozen=True)
class AgentPlan:
    """How to run one agent spec: its argv and, for a structured runtime, its parser."""

    runtime: str
    argv: list[str]
    parser: StreamParser | None
    budget: Budget


def _binary(setting: str, value: str) -> list[str]:
    try:
        parts = shlex.split(value)
    except ValueError as exc:
        raise InvalidSpec(f"{setting} cannot be split: {exc}") from exc
    if not parts:
        raise InvalidSpec(f"{setting} is empty")
    return parts


def plan_agent(
    spec: AgentSpec, settings: Settings, command: Callable[[str], list[str]]
) -> AgentPlan:
    """The runtime, argv and parser of ``spec``; ``command`` builds the generic template's argv."""
    runtime = spec.runtime or settings.agent_runtime
    budget = Budget(
        spec.max_turns, spec.max_cost_usd, PriceTable.from_setting(settings.model_prices)
    )
    if runtime not in RUNTIMES:
        return AgentPlan(runtime, command(spec.prompt), None, budget)
    build, parser = RUNTIMES[runtime]
    setting, value = (
        ("AGENCY_CLAUDE_BIN", settings.claude_bin)
        if runtime == "claude"
        else ("AGENCY_CODEX_BIN", settings.codex_bin)
    )
    # a prompt that starts with "-" would be read as a flag; a leading space changes nothing
    # for the model and keeps it a positional argument
    prompt = f" {spec.prompt}" if spec.prompt.startswith("-") else spec.prompt
    return AgentPlan(
        runtime, build(_binary(setting, value), spec, prompt), parser(spec.model), budget
    )
