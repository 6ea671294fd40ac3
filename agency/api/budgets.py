"""Fleet budgets: a cost cap per period for tasks matching a label selector (or all).

Admins create and delete them; anyone who can read tasks sees them with their spend."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path

from agency.api.deps import Principal, get_plane, require
from agency.api.handlers import ERROR_RESPONSES
from agency.control import ControlPlane
from agency.models import Role
from agency.models.runs import BudgetIn, BudgetList, BudgetOut

router = APIRouter(prefix="/api/v1", tags=["budgets"], responses=ERROR_RESPONSES)

BudgetId = Annotated[str, Path(min_length=1, max_length=64, description="Budget id.")]


@router.post("/budgets", status_code=201, response_model=BudgetOut)
async def create_budget(
    body: BudgetIn,
    plane: ControlPlane = Depends(get_plane),
    who: Principal = Depends(require(Role.ADMIN)),
) -> BudgetOut:
    """Cap what matching tasks may spend per period; once reached, new ones wait."""
    return await plane.tasks.budgets.create(body, who.name)


@router.get("/budgets", response_model=BudgetList)
async def list_budgets(
    plane: ControlPlane = Depends(get_plane),
    who: Principal = Depends(require(Role.VIEWER)),
) -> BudgetList:
    """Every budget with its current period's spend and whether it is reached."""
    return BudgetList(items=plane.tasks.budgets.list())


@router.get("/budgets/{budget_id}", response_model=BudgetOut)
async def get_budget(
    budget_id: BudgetId,
    plane: ControlPlane = Depends(get_plane),
    who: Principal = Depends(require(Role.VIEWER)),
) -> BudgetOut:
    return plane.tasks.budgets.get(budget_id)


@router.delete("/budgets/{budget_id}", response_model=BudgetOut)
async def delete_budget(
    budget_id: BudgetId,
    plane: ControlPlane = Depends(get_plane),
    who: Principal = Depends(require(Role.ADMIN)),
) -> BudgetOut:
    """Remove a budget (tasks it held are queued again within a second)."""
    return await plane.tasks.budgets.delete(budget_id, who.name)
