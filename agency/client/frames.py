"""API answers as pandas DataFrames, with pandas (and pyarrow) imported on first use.

Importing ``agency.client`` and making a client must stay light (a CLI command, a dashboard
callback, a script that only submits): pandas and pyarrow take about a second to import, so
they load only when a method is asked for a DataFrame. The imports inside these functions are
that deliberate delay, nothing else.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import httpx
from pydantic import BaseModel

from agency.models import QueryResultOut, ScheduleView

if TYPE_CHECKING:
    import pandas as pd

ARROW = "application/vnd.apache.arrow.stream"
_TIME_COLUMNS = frozenset(
    {"ts", "deadline", "not_before", "last_heartbeat", "since", "slot", "next_fire", "last_slot"}
)
#: what a schedule's row says of its last fire, from the view's ``last_fire``
_LAST_FIRE = {"last_slot": "slot", "last_task_id": "task_id", "last_state": "state"}
SCHEDULE_COLUMNS = (
    *(f for f in ScheduleView.model_fields if f != "last_fire"),
    "next_fire",
    *_LAST_FIRE,
)


def frame(rows: Iterable[Mapping[str, Any]], columns: Iterable[str]) -> pd.DataFrame:
    """Rows of API JSON as a DataFrame; ``*_at``/``ts``/``since`` columns become UTC datetimes."""
    import pandas as pd

    df = pd.DataFrame(list(rows), columns=list(columns))
    for col in df.columns:
        if col in _TIME_COLUMNS or col.endswith("_at"):
            df[col] = pd.to_datetime(df[col], utc=True, format="ISO8601")
    return df


def model_frame(model: type[BaseModel], rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """Rows as a DataFrame with ``model``'s fields as columns (also when there are none)."""
    return frame(rows, model.model_fields)


def rows(model: type[BaseModel], key: str | None = None) -> Callable[[Any], pd.DataFrame]:
    """The answer (or its ``key``: a page's ``items``) as a DataFrame of ``model`` rows."""

    def parse(data: Any) -> pd.DataFrame:
        return model_frame(model, data if key is None else data[key])

    return parse


def schedule_frame(data: Any) -> pd.DataFrame:
    """``GET /schedules``'s items, one row per schedule: its fields (``next_fires`` a list),
    ``next_fire`` (the first of them) and ``last_slot``, ``last_task_id``, ``last_state`` of
    its last fire."""
    out = []
    for item in data["items"]:
        last = item.get("last_fire") or {}
        row = {k: v for k, v in item.items() if k != "last_fire"}
        row["next_fire"] = (item.get("next_fires") or [None])[0]
        row.update({col: last.get(field) for col, field in _LAST_FIRE.items()})
        out.append(row)
    return frame(out, SCHEDULE_COLUMNS)


def result_frame(data: Any) -> pd.DataFrame:
    """A query's JSON answer; ``attrs`` carry ``truncated``, ``duration_ms`` and ``run_id``."""
    import pandas as pd

    result = QueryResultOut.model_validate(data)
    df = pd.DataFrame(result.rows, columns=result.columns)
    df.attrs.update(
        truncated=result.truncated, duration_ms=result.duration_ms, run_id=result.run_id
    )
    return df


def arrow_frame(response: httpx.Response) -> pd.DataFrame:
    """A query's Arrow IPC answer, which keeps DuckDB's column types; the same ``attrs``."""
    import pyarrow as pa

    table = pa.ipc.open_stream(io.BytesIO(response.content)).read_all()
    meta = table.schema.metadata or {}
    df: pd.DataFrame = table.to_pandas()
    df.attrs.update(
        truncated=meta.get(b"agency.truncated") == b"true",
        duration_ms=float(meta.get(b"agency.duration_ms", b"0")),
        run_id=response.headers.get("x-agency-run-id"),
    )
    return df
