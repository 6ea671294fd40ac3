"""Shared plumbing of the CLI commands that talk to a control plane through ``AgencyClient``.

pandas and the client (which brings pandas and httpx) are imported when a command runs, not
when the CLI starts: ``agency --help`` must not pay for them (start-up time, benchmarks/bench_cli).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, NoReturn

import typer
from pydantic import BaseModel

from agency.errors import AgencyError

if TYPE_CHECKING:
    import pandas as pd

    from agency.client import AgencyClient

URL_OPTION = typer.Option(None, "--url", help="Control-plane URL. [AGENCY_URL]")
TOKEN_OPTION = typer.Option(
    None, "--token", help="API token. [AGENCY_TOKEN, else <data dir>/admin.token]"
)
JSON_OPTION = typer.Option(False, "--json", help="Print JSON (for scripts).")


def fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


@contextmanager
def connect(url: str | None, token: str | None) -> Iterator[AgencyClient]:
    """A client; agency errors end the command with their code and message, exit status 1."""
    from agency.client import AgencyClient  # lazy: start-up time of the CLI

    try:
        with AgencyClient(url, token) as client:
            yield client
    except AgencyError as exc:
        fail(f"{exc.code}: {exc.message}")


def dump(value: Any) -> None:
    """Print models, lists of models, DataFrames or plain data as JSON."""
    typer.echo(json.dumps(_jsonable(value), indent=2, default=str))


def _jsonable(value: Any) -> Any:
    import pandas as pd  # lazy: start-up time of the CLI (loaded already once a client ran)

    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, pd.DataFrame):
        return json.loads(value.to_json(orient="records", date_format="iso"))
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value


def table(df: pd.DataFrame, columns: list[str], empty: str = "(none)") -> None:
    """A compact text table of ``columns`` (those present)."""
    import pandas as pd  # lazy: start-up time of the CLI (loaded already once a client ran)

    if df.empty:
        typer.echo(empty)
        return
    shown = df[[c for c in columns if c in df.columns]].copy()
    for col in shown.columns:
        if pd.api.types.is_datetime64_any_dtype(shown[col]):
            shown[col] = shown[col].dt.strftime("%Y-%m-%d %H:%M:%S")
    typer.echo(shown.to_string(index=False, max_colwidth=60))


def parse_labels(pairs: list[str] | None, option: str = "--label") -> dict[str, str]:
    """``k=v`` pairs of a repeatable option as a dict (exit 2 on a malformed one)."""
    out: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            fail(f"{option} must be key=value, got {pair!r}", 2)
        out[key] = value
    return out


def task_spec(kind: str, spec_json: str | None, args: list[str]) -> dict[str, Any]:
    """A task's spec: ``--spec`` JSON, else the argv of ``shell`` or the prompt of ``agent``."""
    if spec_json is not None:
        try:
            spec = json.loads(spec_json)
        except json.JSONDecodeError as exc:
            fail(f"--spec is not JSON: {exc}", 2)
        if not isinstance(spec, dict):
            fail("--spec must be a JSON object", 2)
        return spec
    if kind == "shell":
        return {"argv": args}
    if kind == "agent":
        return {"prompt": " ".join(args)}
    return {}
