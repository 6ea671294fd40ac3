"""``agency demo remove``: delete the demo data ``agency up --demo`` seeded.

It opens the DuckDB file itself, like ``agency db``, so the control plane must be stopped
first. agency.control and agency.storage are imported when the command runs, not when the
CLI starts (start-up time of ``agency --help``).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import typer

from agency.cli.db import DB_OPTION, db_path, fail, warn_pending_journal
from agency.errors import AgencyError

app = typer.Typer(
    help="Demo data of `agency up --demo` (stop the control plane first).", no_args_is_help=True
)


@app.command()
def remove(db: Path | None = DB_OPTION) -> None:
    """Delete the demo's tasks, alert, saved query, chat session and KPI history.

    Every event stays (the audit chain is append-only); a `demo.removed` event records this.
    """
    path = db_path(db)
    if not path.exists():
        fail(f"no database at {path}")
    warn_pending_journal(path)
    try:
        counts = asyncio.run(_remove(path))
    except AgencyError as exc:
        fail(exc.message)
    typer.echo("removed demo data: " + ", ".join(f"{n} {what}" for what, n in counts.items()))


async def _remove(path: Path) -> dict[str, int]:
    from agency.control.demo import remove_demo  # lazy: start-up time of the CLI
    from agency.storage import Repositories  # lazy: start-up time of the CLI

    repos = await Repositories.open(path)
    try:
        return await remove_demo(repos, "cli")
    finally:
        await repos.close()
