"""Saved queries (with revisions and recorded runs) and ad-hoc notebook queries.

Every update makes a new revision; runs bind parameters as DuckDB ``$name`` parameters (never
interpolated), run read-only with the row cap and time limit, and are recorded with who, when,
how long and how many rows. Results are JSON, or an Arrow IPC stream when the request sends
``Accept: application/vnd.apache.arrow.stream``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request, Response

from agency.api.deps import Principal, get_plane, require
from agency.api.handlers import ERROR_RESPONSES
from agency.api.query_results import ARROW_STREAM, result_arrow, result_json, wants_arrow
from agency.control import ControlPlane
from agency.control.queries import QueryResult
from agency.models import (
    AdhocQuery,
    QueryCreate,
    QueryResultOut,
    QueryRun,
    QueryRunRequest,
    QueryUpdate,
    Role,
    SavedQuery,
    SavedQueryRevision,
)

router = APIRouter(prefix="/api/v1", tags=["queries"], responses=ERROR_RESPONSES)

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"  # no spaces: names are typed on the command line
MAX_SQL = 100_000


RESULT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {ARROW_STREAM: {"schema": {"type": "string", "format": "binary"}}}}
}


@router.post("/queries", status_code=201, response_model=SavedQuery)
async def create_query(
    body: QueryCreate,
    plane: ControlPlane = Depends(get_plane),
    who: Principal = Depends(require(Role.OPERATOR)),
) -> SavedQuery:
    """Save a query (revision 1)."""
    return await plane.queries.create(
        who.name, body.name, body.sql, body.description, body.parameters, who.address
    )


@router.get("/queries", response_model=list[SavedQuery])
async def list_queries(
    plane: ControlPlane = Depends(get_plane),
    who: Principal = Depends(require(Role.VIEWER)),
) -> list[SavedQuery]:
    """Every saved query, by name."""
    return await plane.queries.saved()


@router.get("/queries/{ref}", response_model=SavedQuery)
async def get_query(
    ref: str,
    plane: ControlPlane = Depends(get_plane),
    who: Principal = Depends(require(Role.VIEWER)),
) -> SavedQuery:
    """A saved query by id or name."""
    return await plane.queries.get(ref)


@router.patch("/queries/{ref}", response_model=SavedQuery)
async def update_query(
    ref: str,
    body: QueryUpdate,
    plane: ControlPlane = Depends(get_plane),
    who: Principal = Depends(require(Role.OPERATOR)),
) -> SavedQuery:
    """Change a saved query: the result is a new revision, the old ones stay listed."""
    return await plane.queries.update(
        ref, who.name, body.model_dump(exclude_none=True), who.address
    )


@router.delete("/queries/{ref}", status_code=204)
async def delete_query(
    ref: str,
    plane: ControlPlane = Depends(get_plane),
    who: Principal = Depends(require(Role.ADMIN)),
) -> Response:
    """Delete a saved query; its revisions and runs stay for the audit trail."""
    await plane.queries.delete(ref, who.name)
    return Response(status_code=204)


@router.get("/queries/{ref}/revisions", response_model=list[SavedQueryRevision])
async def list_revisions(
    ref: str,
    plane: ControlPlane = Depends(get_plane),
    who: Principal = Depends(require(Role.VIEWER)),
) -> list[SavedQueryRevision]:
    """Every revision of a saved query, oldest first."""
    return await plane.queries.revisions(ref)


@router.get("/queries/{ref}/runs", response_model=list[QueryRun])
async def list_runs(
    ref: str,
    limit: int = Query(100, ge=1, le=1000),
    plane: ControlPlane = Depends(get_plane),
    who: Principal = Depends(require(Role.VIEWER)),
) -> list[QueryRun]:
    """The most recent runs of a saved query, newest first."""
    return await plane.queries.runs(ref, limit)


def _answer(request: Request, result: QueryResult, run: QueryRun) -> Any:
    if wants_arrow(request.headers.get("accept")):
        return Response(
            result_arrow(result),
            media_type=ARROW_STREAM,
            headers={
                "X-Agency-Run-Id": run.id,
                "X-Agency-Truncated": str(result.truncated).lower(),
            },
        )
    return result_json(result, run)


@router.post("/queries/{ref}/run", response_model=QueryResultOut, responses=RESULT_RESPONSES)
async def run_query(
    ref: str,
    request: Request,
    body: QueryRunRequest | None = None,
    plane: ControlPlane = Depends(get_plane),
    who: Principal = Depends(require(Role.VIEWER)),
) -> Any:
    """Run a saved query with its default parameters overridden by the body's."""
    result, run = await plane.queries.run_saved(
        ref, who.name, body.parameters if body else {}, who.address
    )
    return _answer(request, result, run)


@router.post("/query", response_model=QueryResultOut, responses=RESULT_RESPONSES)
async def adhoc_query(
    body: AdhocQuery,
    request: Request,
    plane: ControlPlane = Depends(get_plane),
    who: Principal = Depends(require(Role.VIEWER)),
) -> Any:
    """Run one read-only statement (notebooks); recorded like saved-query runs."""
    result, run = await plane.queries.run_adhoc(who.name, body.sql, body.parameters, who.address)
    return _answer(request, result, run)
