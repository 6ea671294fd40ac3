"""``agency settings``: every setting with its current value, default and help."""

from __future__ import annotations

import json

import typer

from agency.settings import Settings

app = typer.Typer(help="Show agency's settings (AGENCY_* environment variables).")


@app.callback(invoke_without_command=True)
def settings(
    markdown: bool = typer.Option(
        False, "--markdown", help="Print the settings table of docs/configuration.md."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List every setting: name, current value, default and help."""
    rows = Settings.describe()
    current = Settings.load().model_dump(mode="json")
    secret_like = ("TOKEN", "KEY")
    for row in rows:
        value = current[row["name"].removeprefix("AGENCY_").lower()]
        hidden = any(s in row["name"] for s in secret_like) and value
        row["value"] = "***" if hidden else ("" if value is None else str(value))
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
    elif markdown:
        typer.echo("| setting | default | what it does |\n|---|---|---|")
        for row in rows:
            default = f"`{row['default']}`" if row["default"] else ""
            typer.echo(f"| `{row['name']}` | {default} | {row['help']} |")
    else:
        width = max(len(r["name"]) for r in rows)
        for row in rows:
            typer.echo(f"{row['name']:<{width}}  {row['value']:<24}  {row['help']}")
