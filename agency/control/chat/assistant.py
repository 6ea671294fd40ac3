"""The operator assistant behind chat: slash commands answered with real data, and free text
sent to an OpenAI-compatible model when ``AGENCY_LLM_URL`` is set.

Every command acts with the session owner's rights: a viewer may ask for status, tasks,
workers, schedules and read-only SQL, but ``/submit`` and ``/cancel`` need an operator. Without a model,
free text is answered with the help text, never with an invented answer.
"""

from __future__ import annotations

import asyncio
import json
import logging
import shlex
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import httpx

from agency.control.chat.format import (
    format_fires,
    format_kpis,
    format_schedule,
    format_schedules,
    format_table,
    format_tasks,
    format_workers,
)
from agency.control.chat.llm import completions_url, describe_failure, stream_chat_completion
from agency.control.query_runs import QueryRunner
from agency.control.schedules import ScheduleService
from agency.control.tasks import Orchestrator, TaskQuery
from agency.control.tokens import Principal
from agency.errors import AgencyError, BadRequest, Forbidden, NotFound
from agency.models import ChatMessage, Role, TaskState, TaskSubmit
from agency.security.keystore import open_keystore
from agency.settings import Settings

log = logging.getLogger(__name__)

LLM_KEY_SECRET = "llm_api_key"
HISTORY_MESSAGES = 20  # how much of the session the model sees: enough context, bounded cost
SHOWN_ROWS = 50  # rows of a /sql answer shown in chat; the row cap still applies to the query
SHOWN_FIRES = 10  # fires of one schedule shown by /schedules <name>

HELP = """\
I am the agency operator assistant. Commands:
  /help                       this text
  /status                     control-plane health and KPIs
  /tasks [state]              the 20 most recent tasks, optionally in one state
  /submit shell <argv...>     run a command, e.g. /submit shell echo hi
  /submit <kind> <json spec>  e.g. /submit noop {"sleep": 1}
  /submit agent <prompt>      give the agent CLI a prompt
  /cancel <task id>           cancel a task
  /workers                    registered workers, health, breaker, load
  /schedules [name]           schedules with their next and last fire; one with its fires
  /sql <select>               a read-only query over the control plane's tables
/submit and /cancel need the operator role."""

NO_MODEL = "No language model is configured (AGENCY_LLM_URL), so I only answer commands.\n\n" + HELP

SYSTEM_PROMPT = (
    "You are the operator assistant of agency, an operations console for fleets of AI agent "
    "workers. Answer the operator briefly and precisely. You cannot act yourself: to act, the "
    "operator types commands such as /status, /tasks [state], /submit, /cancel <id>, /workers, "
    "/schedules [name] or /sql <select>; suggest the right command when it helps. Never invent task ids or data."
)

Handler = Callable[["Assistant", Principal, str], Awaitable[str]]


class Assistant:
    """Answers one chat message for a session owner; see ``respond``."""

    def __init__(
        self,
        settings: Settings,
        tasks: Orchestrator,
        queries: QueryRunner,
        schedules: ScheduleService,
    ) -> None:
        self.settings = settings
        self.tasks = tasks
        self.queries = queries
        self.schedules = schedules

    def is_command(self, text: str) -> bool:
        return text.lstrip().startswith("/")

    def streams(self, text: str) -> bool:
        """True when the answer comes from the model, in several pieces."""
        return not self.is_command(text) and self.settings.llm_url is not None

    async def respond(
        self, principal: Principal, text: str, history: Sequence[ChatMessage] = ()
    ) -> AsyncIterator[str]:
        """Yield the reply: one piece for a command, the model's deltas for free text."""
        if self.is_command(text):
            yield await self.command(principal, text)
        elif self.settings.llm_url is None:
            yield NO_MODEL
        else:
            async for piece in self._ask_model(text, history):
                yield piece

    async def command(self, principal: Principal, text: str) -> str:
        """Run one slash command; errors become a readable answer, never an exception."""
        name, _, rest = text.strip().partition(" ")
        handler = COMMANDS.get(name.lower())
        if handler is None:
            return f"Unknown command {name!r}.\n\n{HELP}"
        try:
            return await handler(self, principal, rest.strip())
        except AgencyError as exc:
            return f"{name} failed ({exc.code}): {exc.message}"

    # --- commands -------------------------------------------------------------------------

    async def _help(self, principal: Principal, rest: str) -> str:
        return HELP

    async def _status(self, principal: Principal, rest: str) -> str:
        orch = self.tasks
        health = orch.health()
        lines = [f"status: {health.get('status', 'unknown')}"]
        if health.get("reason"):
            lines.append(f"reason: {health['reason']}")
        return "\n".join(lines) + "\n" + format_kpis(orch.kpis())

    async def _tasks(self, principal: Principal, rest: str) -> str:
        states: list[TaskState] = []
        if rest:
            try:
                states = [TaskState(rest.split()[0].lower())]
            except ValueError:
                known = ", ".join(s.value for s in TaskState)
                raise BadRequest(f"unknown state {rest!r}; known states: {known}") from None
        query = TaskQuery(states=states or None, sort="created_at", descending=True, limit=20)
        page = await self.tasks.page(query)
        return format_tasks(page.items)

    async def _submit(self, principal: Principal, rest: str) -> str:
        _require(principal, Role.OPERATOR, "/submit")
        req = parse_submit(rest)
        task = await self.tasks.submit(req, principal.name)
        return f"submitted task {task.id} ({task.kind}), state {task.state.value}"

    async def _cancel(self, principal: Principal, rest: str) -> str:
        _require(principal, Role.OPERATOR, "/cancel")
        task_id, _, reason = rest.partition(" ")
        if not task_id:
            raise BadRequest("usage: /cancel <task id> [reason]")
        task = await self.tasks.cancel(
            task_id, principal.name, reason.strip() or "canceled from chat"
        )
        return f"task {task.id} is {task.state.value}"

    async def _workers(self, principal: Principal, rest: str) -> str:
        return format_workers(self.tasks.workers())

    async def _schedules(self, principal: Principal, rest: str) -> str:
        if not rest:
            return format_schedules(await self.schedules.all())
        ref = rest.split()[0]
        shown = await self.schedules.get(ref)
        page = await self.schedules.fires(ref, limit=SHOWN_FIRES)
        return format_schedule(shown) + "\n" + format_fires(page.items, shown.timezone)

    async def _sql(self, principal: Principal, rest: str) -> str:
        if not rest:
            raise BadRequest("usage: /sql <select statement>")
        result, _ = await self.queries.run(
            principal.name, rest, {}, source="chat", address=principal.address
        )
        shown = result.rows[:SHOWN_ROWS]
        note = f"{len(result.rows)} row(s) in {result.duration_ms:.1f} ms"
        if result.truncated:
            note += f" (truncated at the row cap of {self.settings.query_row_cap})"
        if len(result.rows) > len(shown):
            note += f"; first {len(shown)} shown"
        return format_table(result.columns, shown) + "\n" + note

    # --- the model ------------------------------------------------------------------------

    async def _ask_model(self, text: str, history: Sequence[ChatMessage]) -> AsyncIterator[str]:
        messages: list[dict[str, str]] = [{"role": "system", "content": SYSTEM_PROMPT}]
        for m in list(history)[-HISTORY_MESSAGES:]:
            if m.role in ("user", "assistant"):
                messages.append({"role": m.role, "content": m.content})
        messages.append({"role": "user", "content": text})
        key = await self._api_key()
        got_any = False
        try:
            async for piece in stream_chat_completion(
                completions_url(self.settings.llm_url or ""),
                self.settings.llm_model,
                messages,
                api_key=key,
                timeout=self.settings.llm_timeout,
            ):
                got_any = True
                yield piece
        except (httpx.HTTPError, ValueError) as exc:
            # the operator sees that the model failed, not a made-up answer
            log.warning("language model call failed: %s", exc)
            yield (
                "\n\n" if got_any else ""
            ) + f"The language model failed: {describe_failure(exc)}"

    async def _api_key(self) -> str | None:
        # read per call, so a rotated key is used at once; the file and vault providers block
        return await asyncio.to_thread(self._read_api_key)

    def _read_api_key(self) -> str | None:
        try:
            return open_keystore(self.settings).get_secret(LLM_KEY_SECRET)
        except NotFound:
            return None
        except AgencyError as exc:
            log.warning("no LLM API key: keystore unavailable: %s", exc.message)
            return None


def _require(principal: Principal, role: Role, what: str) -> None:
    if not principal.role.allows(role):
        raise Forbidden(
            f"{what} needs the {role.value} role; {principal.name} is {principal.role.value}"
        )


def parse_submit(rest: str) -> TaskSubmit:
    """``shell <argv...>``, ``agent <prompt>``, or ``<kind> <json spec>`` -> a validated TaskSubmit."""
    kind, _, arg = rest.strip().partition(" ")
    arg = arg.strip()
    if not kind:
        raise BadRequest("usage: /submit shell <argv...> | /submit <kind> <json spec>")
    spec: dict[str, Any]
    if arg.startswith("{") or not arg:
        try:
            spec = json.loads(arg) if arg else {}
        except json.JSONDecodeError as exc:
            raise BadRequest(
                f"the spec is not valid JSON: {exc.msg} at column {exc.colno}"
            ) from None
        if not isinstance(spec, dict):
            raise BadRequest("the spec must be a JSON object")
    elif kind == "shell":
        try:
            spec = {"argv": shlex.split(arg)}
        except ValueError as exc:
            raise BadRequest(f"cannot split the command line: {exc}") from None
    elif kind == "agent":
        spec = {"prompt": arg}
    else:
        raise BadRequest(f"the spec of kind {kind!r} must be a JSON object")
    try:
        return TaskSubmit(kind=kind, spec=spec)
    except AgencyError:
        raise
    except ValueError as exc:
        # pydantic wraps the InvalidSpec raised by the spec validator
        cause = exc.__cause__ if isinstance(exc.__cause__, AgencyError) else None
        raise cause or BadRequest(str(exc)) from None


COMMANDS: dict[str, Handler] = {
    "/help": Assistant._help,
    "/status": Assistant._status,
    "/tasks": Assistant._tasks,
    "/submit": Assistant._submit,
    "/cancel": Assistant._cancel,
    "/workers": Assistant._workers,
    "/schedules": Assistant._schedules,
    "/sql": Assistant._sql,
}
