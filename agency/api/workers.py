"""Workers: the protocol side (register, heartbeat, reports; worker tokens) and the operator
side (list with breaker state and slots, drain, remove)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel

from agency.api.deps import Principal, get_plane, require
from agency.api.handlers import ERROR_RESPONSES
from agency.control import ControlPlane
from agency.errors import BadRequest, NotFound
from agency.models import Role, WorkerHeartbeat, WorkerInfo, WorkerRegistration, WorkerReport
from agency.models.api import WorkerActionIn, WorkerAttachIn, WorkerList

router = APIRouter(prefix="/api/v1/workers", tags=["workers"], responses=ERROR_RESPONSES)

WorkerId = Annotated[str, Path(min_length=1, max_length=128, description="Worker id.")]


class Accepted(BaseModel):
    accepted: bool = True


def _same_worker(path_id: str, body_id: str) -> None:
    if path_id != body_id:
        raise BadRequest(
            f"the body names worker {body_id!r} but the URL names {path_id!r}",
            details={"path": path_id, "body": body_id},
        )


@router.post("/register", response_model=WorkerInfo)
async def register(
    reg: WorkerRegistration,
    plane: ControlPlane = Depends(get_plane),
    who: Principal = Depends(require(Role.WORKER)),
) -> WorkerInfo:
    """A worker announces itself (again after a restart); its URL must be on the allowlist."""
    return await plane.tasks.register_worker(reg, who.name, who.address)


@router.post("/{worker_id}/heartbeat", response_model=WorkerInfo)
async def heartbeat(
    worker_id: WorkerId,
    hb: WorkerHeartbeat,
    plane: ControlPlane = Depends(get_plane),
    who: Principal = Depends(require(Role.WORKER)),
) -> WorkerInfo:
    """Liveness and the worker's running task ids; 404 means register again."""
    _same_worker(worker_id, hb.id)
    return await plane.tasks.heartbeat(hb)


@router.post("/{worker_id}/reports", status_code=202, response_model=Accepted)
async def report(
    worker_id: WorkerId,
    report: WorkerReport,
    plane: ControlPlane = Depends(get_plane),
    who: Principal = Depends(require(Role.WORKER)),
) -> Accepted:
    """A task state change pushed by its worker (the control plane also polls)."""
    _same_worker(worker_id, report.worker_id)
    await plane.tasks.handle_report(report)
    return Accepted()


@router.post("", response_model=WorkerInfo, status_code=201)
async def attach(
    body: WorkerAttachIn,
    plane: ControlPlane = Depends(get_plane),
    who: Principal = Depends(require(Role.OPERATOR)),
) -> WorkerInfo:
    """Attach a worker that does not register itself (an ag-agent-claude: protocol
    ``agency-agent``); its URL must be on the allowlist and its certificate must verify."""
    return await plane.tasks.register_worker(body.registration(), who.name)


@router.get("", response_model=WorkerList)
async def list_workers(
    plane: ControlPlane = Depends(get_plane), who: Principal = Depends(require(Role.VIEWER))
) -> WorkerList:
    """Every known worker with health, breaker state, slots in use and last heartbeat."""
    return WorkerList(items=sorted(plane.tasks.workers(), key=lambda w: w.id))


def _known(plane: ControlPlane, worker_id: str) -> None:
    if not any(w.id == worker_id for w in plane.tasks.workers()):
        raise NotFound(f"no worker {worker_id!r}", details={"worker_id": worker_id})


@router.post("/{worker_id}/drain", response_model=WorkerInfo)
async def drain(
    worker_id: WorkerId,
    body: WorkerActionIn | None = None,
    plane: ControlPlane = Depends(get_plane),
    who: Principal = Depends(require(Role.OPERATOR)),
) -> WorkerInfo:
    """No new tasks for this worker; its running ones finish."""
    _known(plane, worker_id)
    return await plane.tasks.drain_worker(worker_id, who.name, body.reason if body else None)


@router.delete("/{worker_id}", response_model=WorkerInfo)
async def remove(
    worker_id: WorkerId,
    reason: Annotated[str | None, Query(max_length=1000)] = None,
    plane: ControlPlane = Depends(get_plane),
    who: Principal = Depends(require(Role.ADMIN)),
) -> WorkerInfo:
    """Forget the worker; its in-flight tasks are orphaned and retried by their policy."""
    _known(plane, worker_id)
    return await plane.tasks.remove_worker(worker_id, who.name, reason)
