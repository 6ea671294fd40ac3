"""Fleet budgets reached while their runs run: those runs are stopped.

A fleet budget counts the running attempts' cost so far (``BudgetBook.live``), so its cap
can be reached in the middle of a run. Every running agent task the reached budget matches
is then canceled through the visible cancel path (``cancel_requested`` with actor
``system``), its reason ``budget_exceeded: fleet budget <name> reached (...)``; new matching
tasks wait as ``pending`` (``waiting_for: ["budget:<id>"]``, the dispatcher's hold).
"""

from __future__ import annotations

from agency.control.budgets import BudgetBook
from agency.control.tasks.book import Book
from agency.control.tasks.cancel import Canceller
from agency.models import TaskState
from agency.models.runs import BUDGET_EXCEEDED

_RUNNING = (TaskState.DISPATCHED, TaskState.RUNNING)


def fleet_reason(name: str, spent: float, cap: float, period: str) -> str:
    return (
        f"{BUDGET_EXCEEDED}: fleet budget {name} reached (${spent:.4f} of ${cap:.4f} per {period})"
    )


async def stop_over_budget(book: Book, budgets: BudgetBook, canceller: Canceller) -> int:
    """Cancel the running agent tasks a reached fleet budget matches; how many."""
    if not budgets.budgets:
        return 0
    stopped = 0
    for task_id in list(book.flying):
        task = book.get(task_id)
        if task is None or task.kind != "agent" or task.state not in _RUNNING:
            continue
        over = budgets.over(task.labels)
        if over:
            b = over[0]
            why = fleet_reason(b.name, b.spent_usd, b.cap_usd, b.period)
            await canceller.cancel(task, "system", None, why=why)
            stopped += 1
    return stopped
