"""Fleet budgets: a cost cap per period for the tasks a label selector matches (or all).

``BudgetBook`` keeps every budget and the recent finished runs (as long as the longest
period) in memory, so the dispatcher asks ``blocking(labels)`` without a database read. A
budget whose period's spend has reached its cap holds new matching tasks as ``pending``
with ``waiting_for: ["budget:<id>"]`` until the spend falls back (the window moves on) or
an admin raises or deletes it. Creating and deleting are audited events.

The spend counts running attempts too (``live``: their usage so far, priced), so a cap is
reached while its runs still run; ``over`` names the reached budgets a running task matches,
and the orchestrator stops those tasks (reason ``budget_exceeded: fleet budget ...``).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from agency.errors import NotFound
from agency.models import EventIn, new_id, utcnow
from agency.models.runs import PERIOD_SPAN, AgentRun, Budget, BudgetIn, BudgetOut
from agency.storage import Repositories

_LONGEST = max(PERIOD_SPAN.values())


class BudgetBook:
    """Budgets and what matching runs spent, by rolling period."""

    def __init__(self, repos: Repositories) -> None:
        self.repos = repos
        self.budgets: dict[str, Budget] = {}
        self.runs: deque[AgentRun] = deque()
        #: (labels, cost so far) of the running agent attempts (set by the orchestrator)
        self.live: Callable[[], list[tuple[dict[str, str], float]]] = list

    async def load(self) -> None:
        self.budgets = {b.id: b for b in await self.repos.agent_runs.budgets()}
        recent = await self.repos.agent_runs.runs_since(utcnow() - _LONGEST)
        self.runs = deque(sorted(recent, key=lambda r: r.finished_at))

    def record(self, run: AgentRun) -> None:
        """A finished run's cost counts against every budget it matches from now on."""
        if run.cost_usd > 0:
            self.runs.append(run)

    def spent(self, budget: Budget) -> float:
        now = utcnow()
        while self.runs and self.runs[0].finished_at < now - _LONGEST:
            self.runs.popleft()
        since = now - PERIOD_SPAN[budget.period]
        total = sum(
            r.cost_usd for r in self.runs if r.finished_at >= since and budget.matches(r.labels)
        )
        total += sum(cost for labels, cost in self.live() if budget.matches(labels))
        return round(total, 8)

    def view(self, budget: Budget) -> BudgetOut:
        spent = self.spent(budget)
        return BudgetOut(**budget.model_dump(), spent_usd=spent, exceeded=spent >= budget.cap_usd)

    def blocking(self, labels: dict[str, str]) -> list[str]:
        """``budget:<id>`` of each reached budget that matches a task with ``labels``."""
        return [
            f"budget:{b.id}"
            for b in self.budgets.values()
            if b.matches(labels) and self.spent(b) >= b.cap_usd
        ]

    def over(self, labels: dict[str, str]) -> list[BudgetOut]:
        """The reached budgets that a task with ``labels`` counts against."""
        return [
            view
            for b in self.budgets.values()
            if b.matches(labels) and (view := self.view(b)).exceeded
        ]

    def list(self) -> list[BudgetOut]:
        return [self.view(b) for b in sorted(self.budgets.values(), key=lambda b: b.created_at)]

    def get(self, budget_id: str) -> BudgetOut:
        budget = self.budgets.get(budget_id)
        if budget is None:
            raise NotFound(f"no budget {budget_id}", details={"budget_id": budget_id})
        return self.view(budget)

    async def create(self, body: BudgetIn, actor: str) -> BudgetOut:
        budget = Budget(id=new_id(), created_by=actor, **body.model_dump())
        event = EventIn(
            actor=actor,
            action="budget.created",
            resource_type="budget",
            resource_id=budget.id,
            details=body.model_dump(mode="json"),
        )
        await self.repos.agent_runs.save_budget(budget, event)
        self.budgets[budget.id] = budget
        return self.view(budget)

    async def delete(self, budget_id: str, actor: str) -> BudgetOut:
        out = self.get(budget_id)
        event = EventIn(
            actor=actor,
            action="budget.deleted",
            resource_type="budget",
            resource_id=budget_id,
            details={"name": out.name, "spent_usd": out.spent_usd},
        )
        await self.repos.agent_runs.delete_budget(budget_id, event)
        self.budgets.pop(budget_id, None)
        return out
