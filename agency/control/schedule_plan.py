"""What a schedule owes at a given instant: which slots are due, and which of them run.

Pure functions over a ``Slate`` (a schedule, its slots and how far they are decided), so the
catch-up rules are tested without a database or a clock.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from agency.control.cron import CronSlots, cron_slots
from agency.models import Catchup, Schedule, SkipReason

#: slots one plan lists beyond the ``max_catchup`` that may run; older ones are only counted
#: as "unlisted" in the catch-up event (a per-second schedule down for a day has 86,400)
LIST_EXTRA = 200
_TICK = timedelta(microseconds=1)


def iso(slot: datetime) -> str:
    """A slot as ISO 8601 in UTC with a ``Z``: the form of idempotency keys and events."""
    return slot.astimezone(UTC).isoformat().replace("+00:00", "Z")


def fire_key(schedule_id: str, slot: datetime, manual: bool = False) -> str:
    """The idempotency key of a fire's task: one task per slot, whatever happens."""
    return f"schedule:{schedule_id}:{'manual:' if manual else ''}{iso(slot)}"


def jitter(schedule: Schedule, slot: datetime) -> timedelta:
    """The delay of ``slot``: random-looking but fixed, so a restart waits just as long."""
    if not schedule.jitter_seconds:
        return timedelta(0)
    digest = hashlib.blake2b(f"{schedule.id}:{iso(slot)}".encode(), digest_size=8).digest()
    return timedelta(seconds=schedule.jitter_seconds * int.from_bytes(digest, "big") / 2**64)


@dataclass
class Slate:
    """A schedule as the scheduler holds it: every slot at or before ``cursor`` is decided,
    ``live`` lists its fired tasks not yet seen final, ``due`` is when its next slot is due
    (``None`` when it is paused or past ``end_at``)."""

    schedule: Schedule
    cursor: datetime
    live: list[str] = field(default_factory=list)
    due: datetime | None = None
    slots: CronSlots = field(init=False)

    def __post_init__(self) -> None:
        self.slots = cron_slots(self.schedule.cron, self.schedule.timezone)

    def replace(self, schedule: Schedule, now: datetime) -> None:
        """Take an edited schedule: its slots count from ``now`` on."""
        self.schedule = schedule
        self.slots = cron_slots(schedule.cron, schedule.timezone)
        self.cursor = max(self.cursor, now)
        self.refresh()

    @property
    def floor(self) -> datetime:
        """Slots strictly after this instant are undecided."""
        start = self.schedule.start_at
        return self.cursor if start is None else max(self.cursor, start - _TICK)

    def upcoming(self, after: datetime, count: int) -> list[datetime]:
        """The next ``count`` slots after ``after`` (and after the decided ones)."""
        out: list[datetime] = []
        end = self.schedule.end_at
        slot = max(self.floor, after)
        while len(out) < count:
            slot = self.slots.next_after(slot)  # remembered: schedules share their slots
            if end is not None and slot > end:
                break
            out.append(slot)
        return out

    def refresh(self) -> None:
        nxt = None if self.schedule.paused else next(iter(self.upcoming(self.floor, 1)), None)
        self.due = None if nxt is None else nxt + jitter(self.schedule, nxt)


@dataclass
class Plan:
    """The slots due now: ``run`` in slot order, ``skip`` with their reasons (all older than
    every ``run`` slot that was missed), ``late`` the missed ones, ``unlisted`` when older
    missed slots exist beyond the listed ones."""

    run: list[datetime]
    skip: dict[datetime, SkipReason]
    late: list[datetime]
    unlisted: bool

    @property
    def caught_up(self) -> list[datetime]:
        """The missed slots that run anyway."""
        return [t for t in self.run if t in set(self.late)]


def due_slots(slate: Slate, now: datetime) -> tuple[list[datetime], bool]:
    """Undecided slots due at ``now``, oldest first, and whether older ones were left out.

    A slot is due once its jitter has passed; a slot not yet due holds back the later ones
    (slots are decided in order, which keeps ``cursor`` one instant).
    """
    s = slate.schedule
    top = now if s.end_at is None else min(now, s.end_at)
    first = slate.slots.next_after(slate.floor)
    if first > top:
        return [], False
    if slate.slots.next_after(first) > top:  # the usual case, one slot due: no walk back
        return ([first] if first + jitter(s, first) <= now else []), False
    limit = s.max_catchup + LIST_EXTRA
    found: list[datetime] = []
    unlisted = False
    for slot in slate.slots.until(top):
        if slot <= slate.floor:
            break
        if len(found) == limit:
            unlisted = True
            break
        found.append(slot)
    found.reverse()
    for i, slot in enumerate(found):
        if slot + jitter(s, slot) > now:
            return found[:i], unlisted
    return found, unlisted


def plan(slate: Slate, now: datetime, grace: float) -> Plan:
    """Which due slots run: on-time ones always, missed ones (late by more than ``grace``
    seconds) as the schedule's catch-up policy says."""
    s = slate.schedule
    slots, unlisted = due_slots(slate, now)
    late = [t for t in slots if (now - t - jitter(s, t)).total_seconds() > grace]
    run = [t for t in slots if t not in set(late)]
    skip: dict[datetime, SkipReason] = {}
    if late:
        if s.catchup is Catchup.SKIP:
            skip = dict.fromkeys(late, SkipReason.MISSED)
        elif s.catchup is Catchup.LATEST:
            run.append(late[-1])
            skip = dict.fromkeys(late[:-1], SkipReason.CAUGHT_UP)
        else:
            kept = late[-s.max_catchup :]
            run.extend(kept)
            skip = dict.fromkeys(late[: len(late) - len(kept)], SkipReason.CATCHUP_LIMIT)
    return Plan(sorted(run), skip, late, unlisted and bool(late))
