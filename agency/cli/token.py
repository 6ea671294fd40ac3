"""``agency token create|list|revoke|rotate``: API tokens through the API (needs an admin token)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import typer

from agency.cli.remote import JSON_OPTION, TOKEN_OPTION, URL_OPTION, connect, dump, fail, table
from agency.models import Role

app = typer.Typer(help="Create, list, rotate and revoke API tokens (admin).", no_args_is_help=True)

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhdw])$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(text: str, option: str) -> timedelta:
    """``90s``, ``15m``, ``12h``, ``30d`` or ``2w``; exit 2 naming ``option`` otherwise."""
    m = _DURATION.match(text.strip().lower())
    if m is None:
        fail(f"{option} takes a duration like 90s, 15m, 12h, 30d or 2w (got {text!r})", 2)
    return timedelta(seconds=float(m.group(1)) * _UNIT[m.group(2)])


def parse_expiry(text: str) -> datetime:
    """A duration from now, or an ISO 8601 time (UTC when it has no offset)."""
    if _DURATION.match(text.strip().lower()):
        return datetime.now(UTC) + parse_duration(text, "--expires")
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        fail(f"--expires takes a duration (30d) or an ISO time (got {text!r})", 2)
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


@app.command()
def create(
    name: str = typer.Option(..., "--name", help="Who uses it; the actor of everything it does."),
    role: str = typer.Option(..., "--role", help="viewer, operator, admin or worker."),
    expires: str | None = typer.Option(
        None, "--expires", help="When it stops working: a duration (30d, 12h) or an ISO time."
    ),
    url: str | None = URL_OPTION,
    token: str | None = TOKEN_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Create a token and print its secret (shown once)."""
    try:
        parsed = Role(role)
    except ValueError:
        fail(f"--role must be one of {', '.join(r.value for r in Role)}", 2)
    expires_at = parse_expiry(expires) if expires else None
    with connect(url, token) as client:
        created = client.create_token(name, parsed, expires_at)
    if as_json:
        dump(created)
    else:
        typer.echo(f"token {created.token.id} ({created.token.name}, {created.token.role.value}):")
        typer.echo(created.secret)


@app.command("list")
def list_(
    url: str | None = URL_OPTION, token: str | None = TOKEN_OPTION, as_json: bool = JSON_OPTION
) -> None:
    """Every token (never the secrets)."""
    with connect(url, token) as client:
        df = client.tokens()
    if as_json:
        dump(df)
    else:
        columns = ["id", "name", "role", "created_by", "created_at", "expires_at", "revoked_at"]
        table(df, [*columns, "last_used_at", "last_used_addr"])


@app.command()
def revoke(
    token_id: str,
    url: str | None = URL_OPTION,
    token: str | None = TOKEN_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Revoke a token at once."""
    with connect(url, token) as client:
        revoked = client.revoke_token(token_id)
    if as_json:
        dump(revoked)
    else:
        typer.echo(f"revoked {revoked.id} ({revoked.name})")


@app.command()
def rotate(
    token_id: str,
    grace: str = typer.Option(
        "1h", "--grace", help="How long the old secret keeps working (90s, 15m, 12h, 30d)."
    ),
    url: str | None = URL_OPTION,
    token: str | None = TOKEN_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Give a token a new secret (printed once); the old one works for the grace period."""
    seconds = parse_duration(grace, "--grace").total_seconds()
    with connect(url, token) as client:
        rotated = client.rotate_token(token_id, seconds)
    if as_json:
        dump(rotated)
    else:
        until = rotated.token.previous_valid_until
        typer.echo(
            f"token {rotated.token.id} ({rotated.token.name}): new secret, old one until {until}:"
        )
        typer.echo(rotated.secret)
