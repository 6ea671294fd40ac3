"""``agency token create|list|revoke``: API tokens through the API (needs an admin token)."""

from __future__ import annotations

import typer

from agency.cli.remote import JSON_OPTION, TOKEN_OPTION, URL_OPTION, connect, dump, fail, table
from agency.models import Role

app = typer.Typer(help="Create, list and revoke API tokens (admin).", no_args_is_help=True)


@app.command()
def create(
    name: str = typer.Option(..., "--name", help="Who uses it; the actor of everything it does."),
    role: str = typer.Option(..., "--role", help="viewer, operator, admin or worker."),
    url: str | None = URL_OPTION,
    token: str | None = TOKEN_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Create a token and print its secret (shown once)."""
    try:
        parsed = Role(role)
    except ValueError:
        fail(f"--role must be one of {', '.join(r.value for r in Role)}", 2)
    with connect(url, token) as client:
        created = client.create_token(name, parsed)
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
        table(df, ["id", "name", "role", "created_by", "created_at", "revoked_at"])


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
