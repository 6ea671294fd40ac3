"""``agency task transcript|changes``: an agent task's conversation and what it changed."""

from __future__ import annotations

import json
from typing import Any

import typer

from agency.cli.remote import JSON_OPTION, TOKEN_OPTION, URL_OPTION, connect, dump
from agency.models.runs import StoredTranscriptItem

_CUT = 400  # characters of a tool's input or output shown per line


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= _CUT else text[:_CUT] + "..."


def item_line(item: StoredTranscriptItem) -> str:
    """One item as a readable line: who spoke, which tool, what it answered."""
    head = f"[{item.attempt}:{item.seq}] {item.type.value}"
    if item.type.value == "tool_use":
        return f"{head} {item.tool_name or '?'} {_short(item.input)}"
    if item.type.value == "tool_result":
        return f"{head} {_short(item.output if item.output is not None else item.text or '')}"
    if item.error:
        return f"{head} ERROR {item.error}"
    return f"{head} {item.text or item.kind or ''}".rstrip()


def transcript(
    task_id: str,
    follow: bool = typer.Option(False, "--follow", "-f", help="Keep following until it ends."),
    url: str | None = URL_OPTION,
    token: str | None = TOKEN_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """An agent task's transcript; ``--follow`` streams it live until the task ends."""
    with connect(url, token) as client:
        if follow:
            try:
                for item in client.follow_transcript(task_id):
                    typer.echo(item.model_dump_json() if as_json else item_line(item))
            except KeyboardInterrupt:
                raise typer.Exit(130) from None
            return
        answer = client.transcript(task_id)
    if as_json:
        dump(answer)
        return
    for item in answer.items:
        typer.echo(item_line(item))


def changes(
    task_id: str,
    url: str | None = URL_OPTION,
    token: str | None = TOKEN_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """The files an agent task's latest attempt changed, and the diff."""
    with connect(url, token) as client:
        answer = client.changes(task_id)
    if as_json:
        dump(answer)
        return
    for f in answer.files:
        typer.echo(f"{f.status:<9} {f.path}")
    if answer.diff:
        typer.echo(answer.diff.rstrip("\n"))
    if answer.truncated:
        typer.echo(f"(diff cut at {answer.cap_bytes} bytes)")
