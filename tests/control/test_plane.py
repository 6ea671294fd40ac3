"""The whole control plane in process, without HTTP: what the CLI, notebooks and tests use."""

from __future__ import annotations

from pathlib import Path

from agency.control import ControlPlane, Principal
from agency.control.audit import EventFilter
from agency.control.tasks import TaskQuery
from agency.models import AlertState, Role, TaskState, TaskSubmit
from agency.testing import quick_settings


async def test_every_service_runs_in_process(tmp_path: Path) -> None:
    plane = await ControlPlane.open(quick_settings(tmp_path, admin_token="admin-secret"))
    try:
        admin = plane.tokens.authenticate("admin-secret")
        assert admin.role is Role.ADMIN
        olga = Principal(name="olga", role=Role.OPERATOR, token_id="t-olga")

        task = await plane.tasks.submit(TaskSubmit(kind="noop"), olga.name)
        page = await plane.tasks.page(TaskQuery(limit=10))
        assert [t.id for t in page.items] == [task.id] and task.state is TaskState.PENDING
        assert (await plane.tasks.history(task.id)).timeline[0].action == "task.created"

        alert = await plane.alerts.raise_once("breaker-open", "w1 opened", resource_id="w1")
        assert alert is not None
        assert await plane.alerts.raise_once("breaker-open", "again", resource_id="w1") is None
        moved = await plane.alerts.acknowledge(alert.id, olga.name, "looking")
        assert moved.state is AlertState.ACKNOWLEDGED and moved.updated_by == "olga"

        result, run = await plane.queries.run_adhoc(olga.name, "SELECT 41 + 1 AS answer", {})
        assert result.rows == [[42]] and run.status == "ok"
        saved = await plane.queries.create(olga.name, "answer", "SELECT $n AS n", "", {"n": 1})
        assert (await plane.queries.run_saved("answer", olga.name, {"n": 7}))[0].rows == [[7]]
        assert [r.query_id for r in await plane.queries.runs(saved.id)] == [saved.id]

        recorded = await plane.runbooks.record(olga.name, "daily", "succeeded", parameters={})
        assert (await plane.runbooks.get(recorded.id)).actor == "olga"

        session = await plane.chat.create_session(olga.name, "ops")
        hub = await plane.chat.join(olga, session.id)
        try:
            await plane.chat.converse(hub, olga, "/help")
        finally:
            plane.chat.leave(hub)
        messages = await plane.chat.read(olga, session.id)
        assert [m.role for m in messages] == ["user", "assistant"]

        items, _ = await plane.audit.page(EventFilter(resource_type="alert"))
        assert [e.action for e in items] == ["alert.opened", "alert.acknowledged"]
        assert (await plane.audit.verify()).ok
        assert (await plane.audit.replay(task.id)).differences == {}
        components = await plane.health.components()
        assert components["database"].status == "healthy"
        assert components["workers"].status == "degraded"  # none registered
    finally:
        await plane.close()
