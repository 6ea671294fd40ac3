"""``agency secret set|list|delete``: manage the keystore named by ``AGENCY_KEYSTORE``.

Values are read from a hidden prompt or stdin, never from the command line (it would land
in shell history and ``ps``), and are never printed.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

import typer

from agency.errors import AgencyError, NotFound
from agency.settings import Settings

if TYPE_CHECKING:
    from agency.security.keystore import Keystore

app = typer.Typer(
    help="Secrets for tasks (referenced as ${secret:NAME} in task env).", no_args_is_help=True
)

KEYSTORE_OPTION = typer.Option(
    None, "--keystore", help="env, file, keyring or vault. [AGENCY_KEYSTORE]"
)


def _open(keystore: str | None) -> Keystore:
    # lazy: the keystore providers bring httpx (vault), which the CLI's start-up does not need
    from agency.security.keystore import open_keystore

    try:
        return open_keystore(Settings.load(keystore=keystore))
    except AgencyError as exc:
        typer.echo(f"agency secret: {exc.message}", err=True)
        raise typer.Exit(2) from exc


def _run(action: str, fn: Callable[[], object]) -> None:
    try:
        fn()
    except NotFound as exc:
        typer.echo(f"agency secret {action}: {exc.message}", err=True)
        raise typer.Exit(1) from exc
    except AgencyError as exc:
        typer.echo(f"agency secret {action}: {exc.message}", err=True)
        raise typer.Exit(2) from exc


@app.command("set")
def set_(
    name: str = typer.Argument(..., help="Secret name: letters, digits and _."),
    value_stdin: bool = typer.Option(
        False, "--value-stdin", help="Read the value from stdin (one trailing newline is dropped)."
    ),
    keystore: str | None = KEYSTORE_OPTION,
) -> None:
    """Create or replace a secret; the value comes from a hidden prompt or stdin."""
    ks = _open(keystore)
    if value_stdin:
        value = sys.stdin.read()
        value = value[:-1] if value.endswith("\n") else value
        value = value[:-1] if value.endswith("\r") else value
    else:
        value = typer.prompt(f"value of {name}", hide_input=True, confirmation_prompt=True)
    if not value:
        typer.echo("agency secret set: empty value refused", err=True)
        raise typer.Exit(2)
    _run("set", lambda: ks.set_secret(name, value))
    typer.echo(f"stored {name} in {ks.describe()}")


@app.command("list")
def list_(
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    keystore: str | None = KEYSTORE_OPTION,
) -> None:
    """Names of the stored secrets (never their values)."""
    ks = _open(keystore)
    names: list[str] = []
    _run("list", lambda: names.extend(ks.list()))
    if as_json:
        typer.echo(json.dumps({"keystore": ks.kind, "names": names}))
    else:
        for name in names:
            typer.echo(name)


@app.command("delete")
def delete(
    name: str = typer.Argument(..., help="Secret name."),
    keystore: str | None = KEYSTORE_OPTION,
) -> None:
    """Remove a secret (exit 1 if there is none)."""
    ks = _open(keystore)
    _run("delete", lambda: ks.delete_secret(name))
    typer.echo(f"deleted {name} from {ks.describe()}")
