"""``AlertRepository``: the ``alerts`` table (raised by the control plane, moved by people)."""

from __future__ import annotations

from agency.models import Alert, AlertState, EventIn
from agency.storage.ops import Insert, Upsert
from agency.storage.repository import Repository, row_limit, where


class AlertRepository(Repository):
    """Alerts by id or filtered, newest first; raised as inserts, moved as whole-row upserts."""

    async def get(self, alert_id: str) -> Alert | None:
        return await self._one(Alert, "SELECT * FROM alerts WHERE id = ?", [alert_id])

    async def find(
        self, state: AlertState | str | None = None, kind: str | None = None, limit: int = 200
    ) -> list[Alert]:
        """Alerts newest first (ties by id, descending), optionally of one state and kind."""
        clause, params = where(state=state, kind=kind)
        return await self._all(
            Alert,
            f"SELECT * FROM alerts {clause} ORDER BY created_at DESC, id DESC LIMIT ?",
            [*params, row_limit(limit)],
        )

    async def insert(self, alert: Alert, *events: EventIn) -> None:
        """Store a new alert with its events, in one write."""
        await self._write(Insert("alerts", [alert.model_dump(mode="python")]), *events)

    async def save(self, alert: Alert, *events: EventIn) -> None:
        """Replace an alert's row (a move to another state) with its events, in one write."""
        await self._write(Upsert("alerts", [alert.model_dump(mode="python")]), *events)
