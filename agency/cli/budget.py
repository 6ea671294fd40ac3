"""``agency budget set|list|delete``: fleet budgets (a cost cap per period for the tasks a
label selector matches, or all) through the API. A budget is named by its name or its id."""

from __future__ import annotations

import typer

from agency.cli.remote import (
    JSON_OPTION,
    TOKEN_OPTION,
    URL_OPTION,
    connect,
    dump,
    fail,
    parse_labels,
)
from agency.models.runs import BudgetOut

app = typer.Typer(
    help="Fleet budgets: cap what matching agent tasks may spend per hour, day, week or month.",
    no_args_is_help=True,
)

PERIODS = ("hour", "day", "week", "month")


def _line(b: BudgetOut) -> str:
    who = ", ".join(f"{k}={v}" for k, v in sorted(b.selector.items())) or "all tasks"
    state = "REACHED" if b.exceeded else "ok"
    return (
        f"{b.name} ({b.id}): ${b.spent_usd:.4f} of ${b.cap_usd:.4f} per {b.period} "
        f"for {who}: {state}"
    )


def _find(budgets: list[BudgetOut], ref: str) -> BudgetOut | None:
    return next((b for b in budgets if ref in (b.id, b.name)), None)


@app.command("set")
def set_budget(
    name: str = typer.Argument(..., help="The budget's name (an existing one is replaced)."),
    cap: float = typer.Option(..., "--cap", help="USD the period may spend (> 0)."),
    period: str = typer.Option("day", "--period", help="hour, day, week or month (rolling)."),
    selector: list[str] | None = typer.Option(
        None,
        "--selector",
        "-s",
        help="key=value a task's labels must hold (repeatable); none: all.",
    ),
    url: str | None = URL_OPTION,
    token: str | None = TOKEN_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Create a budget, or replace the one of that name (admin; audited)."""
    if period not in PERIODS:
        fail(f"--period must be one of {', '.join(PERIODS)}, got {period!r}", 2)
    if cap <= 0:
        fail(f"--cap must be more than 0, got {cap}", 2)
    labels = parse_labels(selector, "--selector")
    with connect(url, token) as client:
        old = _find(client.budgets(), name)
        # the new cap first, then the old one goes: never a moment without a cap
        made = client.create_budget(name, cap, period, labels)
        if old is not None:
            client.delete_budget(old.id)
    if as_json:
        dump(made)
    else:
        typer.echo(("replaced " if old else "set ") + _line(made))


@app.command("list")
def list_budgets(
    url: str | None = URL_OPTION,
    token: str | None = TOKEN_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Every budget with what its period has spent (running attempts included)."""
    with connect(url, token) as client:
        budgets = client.budgets()
    if as_json:
        dump(budgets)
        return
    for b in budgets:
        typer.echo(_line(b))
    if not budgets:
        typer.echo("(no budgets)")


@app.command("delete")
def delete_budget(
    ref: str = typer.Argument(..., help="Budget name or id."),
    url: str | None = URL_OPTION,
    token: str | None = TOKEN_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Delete a budget (admin; audited): the tasks it held are let go."""
    with connect(url, token) as client:
        found = _find(client.budgets(), ref)
        if found is None:
            fail(f"no budget named {ref!r}")
        gone = client.delete_budget(found.id)
    if as_json:
        dump(gone)
    else:
        typer.echo(f"deleted {_line(gone)}")
