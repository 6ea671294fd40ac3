"""Demo data for a first look (``agency up --demo``) and its removal (``agency demo remove``).

The seed is real work where it can be: tasks go through the orchestrator to the local workers
(some succeed, one fails and retries, one is canceled while it runs), the alert is raised by
the alert service, the saved query is created and run by the query service, the chat session
talks to the real assistant. Only the KPI history is written directly: the sampler records
the present, and the Overview charts want an hour, so past samples are backfilled (and only
when the hour holds none, so real history is never mixed with invented history).

Everything is marked: tasks carry the label ``demo=true``, the alert's kind is ``demo``, the
saved query's name and the chat session's title start with ``demo: ``, and the backfilled
KPI range is recorded in the ``demo.seeded`` event. Removal deletes those rows and keeps every
event (the audit trail is a hash chain; deleting from it would break ``agency audit verify``),
recording a ``demo.removed`` event instead.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
from datetime import datetime, timedelta

from agency.control.plane import ControlPlane
from agency.control.tokens import Principal
from agency.models import EventIn, KpiSample, Role, Task, TaskState, TaskSubmit
from agency.storage import Repositories
from agency.storage.demo import (
    DEMO_ALERT_KIND,
    DEMO_LABEL,
    DEMO_PREFIX,
    DEMO_QUERY_SQL,
    DemoRows,
)

log = logging.getLogger(__name__)

ACTOR = "demo"
#: whose chat session the demo opens: the dashboard's token, so its Chat tab lists it
CHAT_OWNER = "dashboard"
SETTLE_TIMEOUT = 60.0  # seconds the seeded tasks get to finish (retries included)
HISTORY = timedelta(hours=1)
_SAMPLE_EVERY = timedelta(minutes=1)


#: task labels are placement requirements, so the local workers of ``agency up --demo`` carry
#: the demo's label too (added to ``AGENCY_WORKER_LABELS``), or no worker would take its tasks
WORKER_LABEL = f"{DEMO_LABEL}=true"


def _submit(step: str, kind: str, spec: dict[str, object], **extra: object) -> TaskSubmit:
    # ``step`` names the task for the reader of this list; the label is the only marker
    return TaskSubmit.model_validate(
        {"kind": kind, "spec": spec, "labels": {DEMO_LABEL: "true"}, **extra}
    )


#: the seeded tasks: a small build pipeline that mostly works
TASKS = [
    _submit("checkout", "noop", {"sleep": 0.2}),
    _submit("lint", "shell", {"argv": ["sh", "-c", "echo 'lint: 42 files, 0 problems'"]}),
    _submit("build", "shell", {"argv": ["sh", "-c", "echo compiling; sleep 1; echo built"]}),
    _submit("unit tests", "shell", {"argv": ["sh", "-c", "echo '118 passed'"]}, priority=5),
    _submit("package", "noop", {"sleep": 0.5}),
    _submit(
        "flaky deploy",
        "shell",
        {"argv": ["sh", "-c", "echo boom >&2; exit 1"]},
        retry={"max_attempts": 3, "backoff": 0.5},
    ),
]
#: the task canceled while it runs
LONG_TASK = _submit("nightly soak", "shell", {"argv": ["sleep", "30"]})


class DemoSeeder:
    """Seeds the demo into a running control plane whose local workers are registered."""

    def __init__(self, plane: ControlPlane) -> None:
        self.plane = plane

    async def seed(self) -> dict[str, object]:
        """Seed everything; returns what the ``demo.seeded`` event records."""
        kpi_range = await self.backfill_kpis()
        tasks = await self.plane.tasks.submit_many(TASKS, ACTOR)
        canceled = await self._cancel_while_running()
        await self._settle([t.id for t in tasks])
        failed = tasks[-1]
        alert = await self.plane.alerts.raise_once(
            DEMO_ALERT_KIND,
            "the flaky deploy task failed after 3 attempts (demo data)",
            resource_type="task",
            resource_id=failed.id,
        )
        query = await self.plane.queries.create(
            ACTOR,
            f"{DEMO_PREFIX}tasks by state",
            DEMO_QUERY_SQL,
            "Demo data: how many tasks are in each state (agency demo remove deletes it).",
            {},
        )
        await self.plane.queries.run_saved(query.id, ACTOR, {})
        session = await self._chat()
        details: dict[str, object] = {
            "tasks": [t.id for t in tasks] + [canceled.id],
            "alert": alert.id if alert is not None else None,
            "query": query.id,
            "chat_session": session,
            "kpi_from": kpi_range[0].isoformat() if kpi_range else None,
            "kpi_to": kpi_range[1].isoformat() if kpi_range else None,
        }
        await self.plane.repos.events.append(
            EventIn(
                actor=ACTOR,
                action="demo.seeded",
                resource_type="demo",
                resource_id="demo",
                details=details,
            )
        )
        log.info(
            "demo data seeded: %d tasks, an alert, a saved query, a chat session", len(TASKS) + 1
        )
        return details

    async def backfill_kpis(self) -> tuple[datetime, datetime] | None:
        """An hour of KPI samples before this start, one a minute, unless that hour has some.

        They end a minute before the control plane started (its sampler may take the first
        sample a moment before ``started_at``), so the sampler's own samples stay out of the
        range ``agency demo remove`` deletes.
        """
        edge = self.plane.started_at - _SAMPLE_EVERY
        recent = await self.plane.repos.kpis.find(since=edge - HISTORY, limit=100_000)
        if any(s.ts <= edge for s in recent):
            return None
        rng = random.Random(14)
        workers = self.plane.settings.workers
        stamps = [edge - HISTORY + (i + 1) * _SAMPLE_EVERY for i in range(60)]
        for i, ts in enumerate(stamps):
            wave = (math.sin(i / 60 * 2 * math.pi) + 1) / 2  # a busy half hour, a quiet one
            await self.plane.repos.kpis.record(
                KpiSample(
                    ts=ts,
                    tasks_per_min=round(2 + 10 * wave + rng.uniform(-1, 1), 1),
                    success_rate=round(min(1.0, 0.86 + 0.12 * rng.random()), 3),
                    queue_p50_ms=round(20 + 60 * wave * rng.random(), 1),
                    queue_p95_ms=round(120 + 400 * wave * rng.random(), 1),
                    run_p50_ms=round(800 + 600 * rng.random(), 1),
                    run_p95_ms=round(2500 + 2500 * rng.random(), 1),
                    active_workers=workers,
                    queue_depth=int(6 * wave * rng.random()),
                    running=min(workers * self.plane.settings.worker_capacity, int(4 * wave) + 1),
                    open_breakers=0,
                )
            )
        return stamps[0], stamps[-1]

    async def _cancel_while_running(self) -> Task:
        task = (await self.plane.tasks.submit_many([LONG_TASK], ACTOR))[0]
        deadline = asyncio.get_running_loop().time() + SETTLE_TIMEOUT
        while (await self.plane.tasks.get(task.id)).state is not TaskState.RUNNING:
            if asyncio.get_running_loop().time() > deadline:
                break  # cancel it anyway: a pending task is canceled too
            await asyncio.sleep(0.1)
        return await self.plane.tasks.cancel(
            task.id, ACTOR, reason="demo: canceled while it ran, to show a cancel"
        )

    async def _settle(self, task_ids: list[str]) -> None:
        deadline = asyncio.get_running_loop().time() + SETTLE_TIMEOUT
        for task_id in task_ids:
            while not (await self.plane.tasks.get(task_id)).state.terminal:
                if asyncio.get_running_loop().time() > deadline:
                    log.warning("demo task %s has not finished yet", task_id)
                    return
                await asyncio.sleep(0.1)

    async def _chat(self) -> str:
        who = Principal(name=CHAT_OWNER, role=Role.OPERATOR, token_id=ACTOR)
        session = await self.plane.chat.create_session(who.name, f"{DEMO_PREFIX}first look")
        hub = await self.plane.chat.join(who, session.id)
        try:
            for line in ("/status", "/tasks"):
                await self.plane.chat.converse(hub, who, line)
        finally:
            self.plane.chat.leave(hub)
        return session.id


async def seed_demo(plane: ControlPlane) -> dict[str, object]:
    """Seed the demo data into ``plane`` (see the module docstring)."""
    return await DemoSeeder(plane).seed()


async def remove_demo(repos: Repositories, actor: str) -> dict[str, int]:
    """Delete the demo rows (never events) and record ``demo.removed``; returns the counts."""
    seeded = await repos.events.find(action="demo.seeded", limit=10_000)
    ranges = [
        (datetime.fromisoformat(e.details["kpi_from"]), datetime.fromisoformat(e.details["kpi_to"]))
        for e in seeded
        if e.details.get("kpi_from") and e.details.get("kpi_to")
    ]
    rows: DemoRows = await repos.demo.find(ranges)
    counts = rows.counts()
    await repos.demo.remove(
        rows,
        EventIn(
            actor=actor,
            action="demo.removed",
            resource_type="demo",
            resource_id="demo",
            details={**counts, "tasks_removed": rows.tasks},
        ),
    )
    return counts
