"""Data of the Queries page: list, get, save (each save is a revision), run, revisions, runs, chart."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd
from hvplot import hvPlotTabular

from agency.client import AgencyClient

from .frames import one, records

REVISION_COLUMNS = ["revision", "name", "created_by", "created_at", "sql"]
RUN_COLUMNS = ["started_at", "actor", "revision", "rows", "duration_ms", "status", "error"]
CHART_MAX_ROWS = 200  # beyond this a bar/line chart of the raw rows is noise


@dataclass
class RunResult:
    """One run's rows, whether the row cap cut them, and how long the query took."""

    rows: pd.DataFrame
    truncated: bool
    duration_ms: float
    edited: bool = False  # a saved query was picked but its SQL was edited: ran ad hoc


def saved(client: AgencyClient) -> dict[str, str]:
    """Label -> query id, by name."""
    rows = sorted(records(client.saved_queries()), key=lambda q: str(q.get("name", "")).lower())
    return {f"{q['name']} (r{q.get('revision', 1)})": str(q["id"]) for q in rows}


def get(client: AgencyClient, query_id: str) -> dict[str, Any]:
    return one(client.get_query(query_id))


def save(
    client: AgencyClient, query_id: str | None, name: str, sql: str, description: str
) -> tuple[str, int]:
    """Create the query, or store a new revision of it; returns (id, revision)."""
    if query_id:
        got = one(client.update_query(query_id, name=name, sql=sql, description=description))
    else:
        got = one(client.create_query(name=name, sql=sql, description=description))
    return str(got["id"]), int(got.get("revision", 1))


def parse_params(text: str) -> dict[str, Any]:
    """``k=v, k2=v2`` into parameters; integers and floats become numbers."""
    params: dict[str, Any] = {}
    for part in (text or "").split(","):
        if not part.strip():
            continue
        if "=" not in part:
            raise ValueError(f"parameter {part.strip()!r} is not name=value")
        key, value = (s.strip() for s in part.split("=", 1))
        params[key] = _number(value)
    return params


def _number(value: str) -> Any:
    for cast in (int, float):
        try:
            return cast(value)
        except ValueError:
            continue
    return value


def run(
    client: AgencyClient,
    query_id: str | None,
    sql: str,
    params: dict[str, Any],
    stored_sql: str | None = None,
) -> RunResult:
    """Run exactly ``sql``, the editor's text: as the saved query (recorded in its runs) when
    it is the stored text unchanged, else ad hoc (``edited`` says so). Either way the
    server's read-only gate judges the text that runs."""
    edited = bool(query_id) and _normal(sql) != _normal(stored_sql or "")
    if query_id and not edited:
        got = client.run_query(query_id, params=params)
    else:
        got = client.query(sql, params=params)
    df = got if isinstance(got, pd.DataFrame) else pd.DataFrame(got)
    return RunResult(
        rows=df,
        truncated=bool(df.attrs.get("truncated", False)),
        duration_ms=float(df.attrs.get("duration_ms", 0.0)),
        edited=edited,
    )


def _normal(sql: str) -> str:
    """SQL compared for "unchanged": surrounding blanks and line endings do not count."""
    return sql.replace("\r\n", "\n").strip()


def _readable(
    rows: list[dict[str, Any]], columns: list[str], times: tuple[str, ...]
) -> pd.DataFrame:
    """Rows as a frame with times as text (the table would show raw epoch numbers)."""
    df = pd.DataFrame(rows, columns=columns)
    for col in times:
        if not df.empty:
            df[col] = pd.to_datetime(df[col], utc=True, format="ISO8601").dt.strftime(
                "%Y-%m-%d %H:%M:%S"
            )
    if "duration_ms" in df and not df.empty:
        df["duration_ms"] = df["duration_ms"].astype(float).round(1)
    return df


def revisions(client: AgencyClient, query_id: str) -> pd.DataFrame:
    rows = sorted(
        records(client.query_revisions(query_id)), key=lambda r: -int(r.get("revision", 0))
    )
    return _readable(rows, REVISION_COLUMNS, ("created_at",))


def runs(client: AgencyClient, query_id: str) -> pd.DataFrame:
    rows = sorted(
        records(client.query_runs(query_id)),
        key=lambda r: str(r.get("started_at", "")),
        reverse=True,
    )
    return _readable(rows, RUN_COLUMNS, ("started_at",))


def chart_for(df: pd.DataFrame) -> Any:
    """A chart when the result has one label or time column and numeric columns, else None."""
    if df.empty or len(df) > CHART_MAX_ROWS or len(df.columns) < 2:
        return None
    numeric = [
        c
        for c in df.columns
        if pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c])
    ]
    others = [c for c in df.columns if c not in numeric]
    if not numeric or not others:
        return None
    x = others[0]
    if pd.api.types.is_datetime64_any_dtype(df[x]):
        return hvPlotTabular(df).line(x=x, y=numeric, height=260, responsive=True)
    return hvPlotTabular(df.astype({x: str})).bar(x=x, y=numeric[0], height=260, responsive=True, rot=30)
