"""``SlateBook``: schedules found by id or name, due in order, with stale heap entries dropped."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from agency.control.schedule_book import SLACK, SlateBook
from agency.control.schedule_plan import Slate
from agency.models import Schedule

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)


def slate(sid: str, name: str, cron: str = "* * * * *", paused: bool = False) -> Slate:
    s = Schedule(id=sid, name=name, cron=cron, task={"kind": "noop"}, since=T0, paused=paused)
    out = Slate(s, T0)
    out.refresh()
    return out


def test_find_by_id_or_name_rename_and_remove() -> None:
    book = SlateBook()
    a = slate("id-a", "alpha")
    book.put(a)
    assert book.find("id-a") is a and book.find("alpha") is a and book.find("beta") is None
    assert book.name_taken("alpha") and not book.name_taken("alpha", other_than="id-a")
    a.schedule = a.schedule.model_copy(update={"name": "beta"})
    book.put(a)  # renamed in place, as an edit does
    assert book.find("beta") is a and book.find("alpha") is None and not book.name_taken("alpha")
    book.remove("id-a")
    assert book.find("beta") is None and book.find("id-a") is None and len(book) == 0


def test_due_in_name_order_and_stale_entries_dropped() -> None:
    book = SlateBook()
    slates = [slate(f"id-{n}", n) for n in ("c", "a", "b")]
    hourly = slate("id-h", "h", "0 * * * *")
    for s in [*slates, hourly]:
        book.put(s)
    assert book.next_due() == T0 + MIN
    assert [s.schedule.name for s in book.due(T0 + MIN)] == ["a", "b", "c"]
    assert book.due(T0 + MIN) == []  # taken off until ``moved`` puts them back
    for s in slates:
        s.cursor = T0 + MIN
        s.refresh()
        book.moved(s)
    assert book.next_due() == T0 + 2 * MIN
    slates[0].schedule = slates[0].schedule.model_copy(update={"paused": True})
    slates[0].refresh()  # paused: no due time; its old entry is stale
    book.moved(slates[0])
    assert [s.schedule.name for s in book.due(T0 + 2 * MIN)] == ["a", "b"]
    assert book.next_due() == T0 + 60 * MIN  # the hourly one
    assert book.counts() == (3, 1)


def test_the_heap_is_rebuilt_when_stale_entries_pile_up() -> None:
    book = SlateBook()
    s = slate("id-x", "x", "0 * * * *")
    book.put(s)
    for _ in range(3 * SLACK):  # edits that move nothing still push entries
        book.moved(s)
    assert len(book._heap) <= 2 * len(book) + SLACK
    assert book.next_due() == T0 + 60 * MIN
