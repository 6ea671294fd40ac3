"""``AgentRunRepository``: the ``agent_runs``, ``transcript_items``, ``task_changes`` and
``budgets`` tables (agent runs' usage, transcripts, workspace changes; fleet budgets)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from agency.models import EventIn, Usage
from agency.models.runs import AgentRun, Budget, StoredChanges, StoredTranscriptItem
from agency.storage.ops import Delete, Upsert, WriteOp
from agency.storage.repository import Repository, row_limit

_ITEM_KEY = ("task_id", "attempt", "seq")
_RUN_KEY = ("task_id", "attempt")


class AgentRunRepository(Repository):
    """Agent runs by task, their transcript items and changes, and the budgets."""

    # --- writes (operations, so they join the task's own change in one write) -----------

    @staticmethod
    def items_op(items: list[StoredTranscriptItem]) -> list[WriteOp]:
        """Upserts: a live poll and the final fetch may both bring the same item."""
        if not items:
            return []
        rows = [i.model_dump(mode="python") for i in items]
        return [Upsert("transcript_items", rows, key=_ITEM_KEY)]

    @staticmethod
    def run_op(run: AgentRun) -> WriteOp:
        return Upsert("agent_runs", [run.model_dump(mode="python")], key=_RUN_KEY)

    @staticmethod
    def changes_op(changes: StoredChanges) -> WriteOp:
        return Upsert("task_changes", [changes.model_dump(mode="python")], key=_RUN_KEY)

    async def save_items(self, items: list[StoredTranscriptItem]) -> None:
        """Store items read while the attempt runs (the live view), through the journal."""
        ops = self.items_op(items)
        if ops:
            await self._write(*ops, journal=True)

    # --- reads -----------------------------------------------------------------------------

    async def transcript(
        self, task_id: str, after_attempt: int = 0, after_seq: int = 0, limit: int = 10_000
    ) -> list[StoredTranscriptItem]:
        """Items of ``task_id`` after the (attempt, seq) position, in order."""
        return await self._all(
            StoredTranscriptItem,
            "SELECT * FROM transcript_items WHERE task_id = ? "
            "AND (attempt > ? OR (attempt = ? AND seq > ?)) ORDER BY attempt, seq LIMIT ?",
            [task_id, after_attempt, after_attempt, after_seq, row_limit(limit)],
        )

    async def last_seq(self, task_id: str, attempt: int) -> int:
        row = await self.store.fetch_one(
            "SELECT max(seq) AS seq FROM transcript_items WHERE task_id = ? AND attempt = ?",
            [task_id, attempt],
        )
        return int(row["seq"]) if row and row["seq"] is not None else 0

    async def runs(self, task_id: str) -> list[AgentRun]:
        """Every recorded attempt of ``task_id``, oldest first."""
        return await self._all(
            AgentRun, "SELECT * FROM agent_runs WHERE task_id = ? ORDER BY attempt", [task_id]
        )

    async def usage_by_task(self, task_ids: Sequence[str]) -> dict[str, tuple[int, Usage]]:
        """The latest stored attempt and the stored usage of each of ``task_ids`` that has
        agent runs, summed over its attempts (the model of the latest); one grouped read over
        the primary key, so a list page of up to 500 tasks costs one query however many tasks
        are stored."""
        ids = list(dict.fromkeys(task_ids))
        if not ids:
            return {}
        marks = ", ".join("?" for _ in ids)
        rows = await self.store.fetch(
            "SELECT task_id, sum(input_tokens) AS input_tokens, "
            "sum(output_tokens) AS output_tokens, sum(cache_read_tokens) AS cache_read_tokens, "
            "sum(cache_write_tokens) AS cache_write_tokens, sum(cost_usd) AS cost_usd, "
            "sum(turns) AS turns, arg_max(model, attempt) AS model, max(attempt) AS attempt "
            f"FROM agent_runs WHERE task_id IN ({marks}) GROUP BY task_id",
            ids,
        )
        return {
            str(r["task_id"]): (
                int(r["attempt"]),
                Usage(
                    input_tokens=int(r["input_tokens"]),
                    output_tokens=int(r["output_tokens"]),
                    cache_read_tokens=int(r["cache_read_tokens"]),
                    cache_write_tokens=int(r["cache_write_tokens"]),
                    cost_usd=round(float(r["cost_usd"]), 8),
                    turns=int(r["turns"]),
                    model=r["model"],
                ),
            )
            for r in rows
        }

    async def runs_since(self, since: datetime) -> list[AgentRun]:
        """Runs that ended at or after ``since`` (budgets' spend, cost KPIs)."""
        return await self._all(
            AgentRun,
            "SELECT * FROM agent_runs WHERE finished_at >= ? ORDER BY finished_at",
            [since],
        )

    async def sessions(self) -> list[AgentRun]:
        """The latest run of every session (where that session's workspace is)."""
        return await self._all(
            AgentRun,
            "SELECT * FROM agent_runs WHERE session_id IS NOT NULL "
            "QUALIFY row_number() OVER (PARTITION BY session_id ORDER BY finished_at DESC) = 1",
        )

    async def changes(self, task_id: str) -> StoredChanges | None:
        """The latest attempt's changes."""
        return await self._one(
            StoredChanges,
            "SELECT * FROM task_changes WHERE task_id = ? ORDER BY attempt DESC LIMIT 1",
            [task_id],
        )

    # --- budgets ---------------------------------------------------------------------------

    async def budgets(self) -> list[Budget]:
        return await self._all(Budget, "SELECT * FROM budgets ORDER BY created_at, id")

    async def get_budget(self, budget_id: str) -> Budget | None:
        return await self._one(Budget, "SELECT * FROM budgets WHERE id = ?", [budget_id])

    async def save_budget(self, budget: Budget, *events: EventIn) -> None:
        await self._write(Upsert("budgets", [budget.model_dump(mode="python")]), *events)

    async def delete_budget(self, budget_id: str, *events: EventIn) -> None:
        await self._write(Delete("budgets", [{"id": budget_id}]), *events)
