"""Deciding the due slots of many schedules at once: ``advance_all``.

Thousands of schedules often share a slot (every ``* * * * *`` one at the top of the minute).
Deciding them one by one costs three awaited writes each; here the decisions of every
schedule due take one write, their tasks one submission per ``SUBMIT_CHUNK``, and their
confirmations one write per chunk. The order that makes a slot fire once at most is the same
as ``Firer``'s (fire rows committed, then tasks submitted with their idempotency keys, then
the rows confirmed), so a crash anywhere still ends in one task per slot.

A schedule whose runs may interact (overlap ``forbid`` or ``replace`` with a run still going,
or several of its slots due at once) is decided alone by ``Firer.advance``, so each run sees
the ones before it.
"""

from __future__ import annotations

import logging
from datetime import datetime

from agency.control.schedule_fire import Firer, catchup, row_key
from agency.control.schedule_plan import Plan, Slate, jitter, plan
from agency.models import EventIn, Overlap, ScheduleFire

log = logging.getLogger("agency.schedules")


async def advance_all(firer: Firer, slates: list[Slate], now: datetime) -> list[ScheduleFire]:
    """Decide every slot due at ``now`` of ``slates``; returns the decisions, per schedule in
    the order given and in slot order within one."""
    decided: dict[str, list[ScheduleFire]] = {}
    together: list[tuple[Slate, Plan]] = []
    for slate in slates:
        try:
            p = plan(slate, now, firer.settings.schedule_misfire_grace)
            if await _alone(firer, slate, p):
                decided[slate.schedule.id] = await firer.advance(slate, now)
            else:
                together.append((slate, p))
        except Exception:  # one schedule's failure must not hold up the others
            log.exception("schedule %s: deciding its due slots failed", slate.schedule.name)
    if together:
        decided.update(await _together(firer, together, now))
    return [f for slate in slates for f in decided.get(slate.schedule.id, [])]


async def _alone(firer: Firer, slate: Slate, p: Plan) -> bool:
    if slate.schedule.overlap is Overlap.ALLOW or not p.run:
        return False
    return len(p.run) > 1 or bool(await firer.live(slate))


async def _together(
    firer: Firer, plans: list[tuple[Slate, Plan]], now: datetime
) -> dict[str, list[ScheduleFire]]:
    """The plans' decisions in one write, their tasks submitted together; by schedule id."""
    out: dict[str, list[ScheduleFire]] = {}
    fires: list[tuple[Slate, ScheduleFire]] = []
    events: list[EventIn] = []
    for slate, p in plans:
        rows, event = catchup(slate, p, now)
        out[slate.schedule.id] = rows
        events += [event] if event is not None else []
        fires += [(slate, _fire(slate, slot, now)) for slot in p.run]
    recorded = [r for rows in out.values() for r in rows] + [f for _, f in fires]
    try:
        await firer.repo.record(recorded, *events)
    except Exception:  # nothing was written (one transaction): each schedule on its own
        log.exception("recording %d schedule decisions at once failed", len(recorded))
        return await _one_by_one(firer, [slate for slate, _ in plans], now)
    for slate, p in plans:
        firer.caught_up(slate, out[slate.schedule.id])
        if p.run:
            slate.cursor = max(slate.cursor, p.run[-1])
    for _, fire in fires:
        firer.pending[row_key(fire)] = fire
    firer.drill("recorded")
    for fire in await firer.submit_all(fires):
        out[fire.schedule_id].append(fire)
    for slate, _ in plans:
        slate.refresh()
        out[slate.schedule.id].sort(key=lambda f: f.slot)
    return out


async def _one_by_one(
    firer: Firer, slates: list[Slate], now: datetime
) -> dict[str, list[ScheduleFire]]:
    out: dict[str, list[ScheduleFire]] = {}
    for slate in slates:
        try:
            out[slate.schedule.id] = await firer.advance(slate, now)
        except Exception:
            log.exception("schedule %s: deciding its due slots failed", slate.schedule.name)
    return out


def _fire(slate: Slate, slot: datetime, now: datetime) -> ScheduleFire:
    s = slate.schedule
    return ScheduleFire(
        schedule_id=s.id,
        slot=slot,
        revision=s.revision,
        fired_at=now,
        lateness=max(0.0, (now - slot - jitter(s, slot)).total_seconds()),
    )
