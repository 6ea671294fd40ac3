"""Saved queries (with revisions and recorded runs) and ad-hoc notebook queries.

Every update makes a new revision; runs bind parameters as DuckDB ``$name`` parameters (never
interpolated), run read-only with the row cap and time limit, and are recorded with who, when,
how long and how many rows. Results are JSON, or an Arrow IPC stream when the request sends
``Accept: application/vnd.apache.arrow.stream``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Depends, Query, Request, Response

from agency.api.deps import Principal, Services, get_services, require
from agency.api.handlers import ERROR_RESPONSES
from agency.api.queries_run import (
    ARROW_STREAM,
    result_arrow,
    result_json,
    run_user_sql,
    wants_arrow,
)
from agency.errors import Conflict, NotFound
from agency.models import (
    AdhocQuery,
    EventIn,
    QueryCreate,
    QueryResultOut,
    QueryRun,
    QueryRunRequest,
    QueryUpdate,
    Role,
    SavedQuery,
    SavedQueryRevision,
    new_id,
    utcnow,
)
from agency.storage import Delete, Insert, Upsert
from agency.storage.userquery import check_sql

router = APIRouter(prefix="/api/v1", tags=["queries"], responses=ERROR_RESPONSES)

RESULT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {ARROW_STREAM: {"schema": {"type": "string", "format": "binary"}}}}
}


def _mutations(request: Request) -> asyncio.Lock:
    """One lock per app: name uniqueness and revision numbers are check-then-write."""
    lock: asyncio.Lock | None = getattr(request.app.state, "saved_query_lock", None)
    if lock is None:
        lock = request.app.state.saved_query_lock = asyncio.Lock()
    return lock


async def find_query(services: Services, ref: str) -> SavedQuery:
    """A saved query by id, else by name; ``NotFound`` otherwise."""
    rows = await services.store.fetch(
        "SELECT * FROM saved_queries WHERE id = $ref OR name = $ref ORDER BY id = $ref DESC LIMIT 1",
        {"ref": ref},
    )
    if not rows:
        raise NotFound(f"no saved query {ref!r}", details={"query": ref})
    return SavedQuery.model_validate(rows[0])


async def _name_taken(services: Services, name: str, other_than: str | None = None) -> bool:
    rows = await services.store.fetch(
        "SELECT id FROM saved_queries WHERE name = $name AND id IS DISTINCT FROM $other",
        {"name": name, "other": other_than},
    )
    return bool(rows)


def _revision_of(q: SavedQuery, actor: str) -> SavedQueryRevision:
    return SavedQueryRevision(
        query_id=q.id,
        revision=q.revision,
        name=q.name,
        sql=q.sql,
        description=q.description,
        parameters=q.parameters,
        created_by=actor,
        created_at=q.updated_at,
    )


async def _save(services: Services, q: SavedQuery, actor: str, action: str) -> None:
    await services.store.write(
        Upsert("saved_queries", [q.model_dump(mode="python")]),
        Insert("saved_query_revisions", [_revision_of(q, actor).model_dump(mode="python")]),
        EventIn(
            actor=actor,
            action=action,
            resource_type="query",
            resource_id=q.id,
            details={"name": q.name, "revision": q.revision},
        ),
    )


@router.post("/queries", status_code=201, response_model=SavedQuery)
async def create_query(
    body: QueryCreate,
    request: Request,
    services: Services = Depends(get_services),
    who: Principal = Depends(require(Role.OPERATOR)),
) -> SavedQuery:
    """Save a query (revision 1)."""
    check_sql(body.sql)  # a query that could never run is refused when saved, not later
    async with _mutations(request):
        if await _name_taken(services, body.name):
            raise Conflict(f"a saved query named {body.name!r} exists", details={"name": body.name})
        now = utcnow()
        q = SavedQuery(
            id=new_id(),
            **body.model_dump(),
            revision=1,
            created_by=who.name,
            created_at=now,
            updated_at=now,
        )
        await _save(services, q, who.name, "query.created")
    return q


@router.get("/queries", response_model=list[SavedQuery])
async def list_queries(
    services: Services = Depends(get_services),
    who: Principal = Depends(require(Role.VIEWER)),
) -> list[SavedQuery]:
    """Every saved query, by name."""
    rows = await services.store.fetch("SELECT * FROM saved_queries ORDER BY name")
    return [SavedQuery.model_validate(r) for r in rows]


@router.get("/queries/{ref}", response_model=SavedQuery)
async def get_query(
    ref: str,
    services: Services = Depends(get_services),
    who: Principal = Depends(require(Role.VIEWER)),
) -> SavedQuery:
    """A saved query by id or name."""
    return await find_query(services, ref)


@router.patch("/queries/{ref}", response_model=SavedQuery)
async def update_query(
    ref: str,
    body: QueryUpdate,
    request: Request,
    services: Services = Depends(get_services),
    who: Principal = Depends(require(Role.OPERATOR)),
) -> SavedQuery:
    """Change a saved query: the result is a new revision, the old ones stay listed."""
    if body.sql is not None:
        check_sql(body.sql)
    async with _mutations(request):
        q = await find_query(services, ref)
        changes = body.model_dump(exclude_none=True)
        if "name" in changes and await _name_taken(services, changes["name"], other_than=q.id):
            raise Conflict(
                f"a saved query named {changes['name']!r} exists", details={"name": changes["name"]}
            )
        q = q.model_copy(update={**changes, "revision": q.revision + 1, "updated_at": utcnow()})
        await _save(services, q, who.name, "query.updated")
    return q


@router.delete("/queries/{ref}", status_code=204)
async def delete_query(
    ref: str,
    request: Request,
    services: Services = Depends(get_services),
    who: Principal = Depends(require(Role.ADMIN)),
) -> Response:
    """Delete a saved query; its revisions and runs stay for the audit trail."""
    async with _mutations(request):
        q = await find_query(services, ref)
        await services.store.write(
            Delete("saved_queries", [{"id": q.id}]),
            EventIn(
                actor=who.name,
                action="query.deleted",
                resource_type="query",
                resource_id=q.id,
                details={"name": q.name, "revision": q.revision},
            ),
        )
    return Response(status_code=204)


@router.get("/queries/{ref}/revisions", response_model=list[SavedQueryRevision])
async def list_revisions(
    ref: str,
    services: Services = Depends(get_services),
    who: Principal = Depends(require(Role.VIEWER)),
) -> list[SavedQueryRevision]:
    """Every revision of a saved query, oldest first."""
    q = await find_query(services, ref)
    rows = await services.store.fetch(
        "SELECT * FROM saved_query_revisions WHERE query_id = $id ORDER BY revision", {"id": q.id}
    )
    return [SavedQueryRevision.model_validate(r) for r in rows]


@router.get("/queries/{ref}/runs", response_model=list[QueryRun])
async def list_runs(
    ref: str,
    limit: int = Query(100, ge=1, le=1000),
    services: Services = Depends(get_services),
    who: Principal = Depends(require(Role.VIEWER)),
) -> list[QueryRun]:
    """The most recent runs of a saved query, newest first."""
    q = await find_query(services, ref)
    rows = await services.store.fetch(
        "SELECT * FROM query_runs WHERE query_id = $id ORDER BY started_at DESC, id DESC LIMIT $limit",
        {"id": q.id, "limit": limit},
    )
    return [QueryRun.model_validate(r) for r in rows]


def _answer(request: Request, result: Any, run: QueryRun) -> Any:
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
    services: Services = Depends(get_services),
    who: Principal = Depends(require(Role.VIEWER)),
) -> Any:
    """Run a saved query with its default parameters overridden by the body's."""
    q = await find_query(services, ref)
    params = {**q.parameters, **(body.parameters if body else {})}
    result, run = await run_user_sql(
        services, who, q.sql, params, source="saved", query_id=q.id, revision=q.revision
    )
    return _answer(request, result, run)


@router.post("/query", response_model=QueryResultOut, responses=RESULT_RESPONSES)
async def adhoc_query(
    body: AdhocQuery,
    request: Request,
    services: Services = Depends(get_services),
    who: Principal = Depends(require(Role.VIEWER)),
) -> Any:
    """Run one read-only statement (notebooks); recorded like saved-query runs."""
    result, run = await run_user_sql(services, who, body.sql, body.parameters, source="adhoc")
    return _answer(request, result, run)
