"""``agency audit list``: the audit trail through the API (``verify`` reads the file directly)."""

from __future__ import annotations

from datetime import datetime

import typer

from agency.cli.remote import JSON_OPTION, TOKEN_OPTION, URL_OPTION, connect, dump, table


def audit_list(
    action: str | None = typer.Option(
        None, "--action", help="Exact, or a prefix ending in '.' (task.)."
    ),
    actor: str | None = typer.Option(None, "--actor"),
    resource_type: str | None = typer.Option(None, "--resource-type"),
    resource_id: str | None = typer.Option(None, "--resource-id"),
    since: datetime | None = typer.Option(None, "--since", help="ISO time, inclusive."),
    until: datetime | None = typer.Option(None, "--until", help="ISO time, exclusive."),
    limit: int = typer.Option(100, "--limit", "-n", min=1, max=1_000_000),
    url: str | None = URL_OPTION,
    token: str | None = TOKEN_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Audit events, oldest first, through the control plane's API."""
    with connect(url, token) as client:
        df = client.audit(
            action=action,
            actor=actor,
            resource_type=resource_type,
            resource_id=resource_id,
            since=since,
            until=until,
            max_rows=limit,
        )
    if as_json:
        dump(df)
    else:
        table(
            df,
            ["seq", "ts", "actor", "action", "resource_type", "resource_id", "verdict"],
            empty="(no events)",
        )
