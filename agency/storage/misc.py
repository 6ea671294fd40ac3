"""Typed reads of alerts, waivers, runbook runs, API tokens and KPI samples."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from agency.models import Alert, AlertState, ApiToken, KpiSample, RunbookRun, Waiver, WaiverState
from agency.storage.store import Store


def _where(**filters: Any) -> tuple[str, list[Any]]:
    given = {k: v for k, v in filters.items() if v is not None}
    if not given:
        return "", []
    return "WHERE " + " AND ".join(f"{k} = ?" for k in given), [str(v) for v in given.values()]


async def get_alert(store: Store, alert_id: str) -> Alert | None:
    row = await store.fetch_one("SELECT * FROM alerts WHERE id = ?", [alert_id])
    return Alert.model_validate(row) if row else None


async def list_alerts(
    store: Store, state: AlertState | str | None = None, limit: int = 200
) -> list[Alert]:
    """Alerts newest first, optionally in one state."""
    where, params = _where(state=state)
    rows = await store.fetch(
        f"SELECT * FROM alerts {where} ORDER BY created_at DESC, id LIMIT {max(1, int(limit))}",
        params,
    )
    return [Alert.model_validate(r) for r in rows]


async def get_waiver(store: Store, waiver_id: str) -> Waiver | None:
    row = await store.fetch_one("SELECT * FROM waivers WHERE id = ?", [waiver_id])
    return Waiver.model_validate(row) if row else None


async def list_waivers(
    store: Store,
    task_id: str | None = None,
    state: WaiverState | str | None = None,
    limit: int = 200,
) -> list[Waiver]:
    where, params = _where(task_id=task_id, state=state)
    rows = await store.fetch(
        f"SELECT * FROM waivers {where} ORDER BY created_at DESC, id LIMIT {max(1, int(limit))}",
        params,
    )
    return [Waiver.model_validate(r) for r in rows]


async def get_runbook_run(store: Store, run_id: str) -> RunbookRun | None:
    row = await store.fetch_one("SELECT * FROM runbook_runs WHERE id = ?", [run_id])
    return RunbookRun.model_validate(row) if row else None


async def list_runbook_runs(
    store: Store, name: str | None = None, limit: int = 100
) -> list[RunbookRun]:
    where, params = _where(name=name)
    rows = await store.fetch(
        f"SELECT * FROM runbook_runs {where} ORDER BY started_at DESC, id LIMIT {max(1, int(limit))}",
        params,
    )
    return [RunbookRun.model_validate(r) for r in rows]


async def get_token(store: Store, token_id: str) -> ApiToken | None:
    row = await store.fetch_one("SELECT * FROM api_tokens WHERE id = ?", [token_id])
    return ApiToken.model_validate(row) if row else None


async def get_token_by_hash(store: Store, token_hash: str) -> ApiToken | None:
    row = await store.fetch_one(
        "SELECT * FROM api_tokens WHERE token_hash = ? LIMIT 1", [token_hash]
    )
    return ApiToken.model_validate(row) if row else None


async def list_tokens(store: Store, *, include_revoked: bool = True) -> list[ApiToken]:
    where = "" if include_revoked else "WHERE revoked_at IS NULL"
    rows = await store.fetch(f"SELECT * FROM api_tokens {where} ORDER BY created_at, id")
    return [ApiToken.model_validate(r) for r in rows]


async def list_kpi_samples(
    store: Store, since: datetime | None = None, limit: int = 1000
) -> list[KpiSample]:
    """Samples oldest first from ``since`` (the most recent ``limit`` of them)."""
    where, params = ("WHERE ts >= ?", [since]) if since is not None else ("", [])
    rows = await store.fetch(
        f"SELECT * FROM (SELECT * FROM kpi_samples {where} ORDER BY ts DESC LIMIT {max(1, int(limit))}) ORDER BY ts",
        params,
    )
    return [KpiSample.model_validate(r) for r in rows]


async def latest_kpi_sample(store: Store) -> KpiSample | None:
    row = await store.fetch_one("SELECT * FROM kpi_samples ORDER BY ts DESC LIMIT 1")
    return KpiSample.model_validate(row) if row else None
