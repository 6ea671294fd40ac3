"""The keyboard's rows: where each key moves, and keys read once each, in order."""

from __future__ import annotations

from agency_dashboards.keys import moved, pending


def test_keys_move_within_the_rows() -> None:
    assert moved("down", -1, 5) == 0 and moved("up", -1, 5) == 4  # nothing highlighted yet
    assert moved("down", 4, 5) == 4 and moved("up", 0, 5) == 0  # the ends hold
    assert moved("pagedown", 1, 50) == 11 and moved("pageup", 5, 50) == 0
    assert moved("home", 3, 5) == 0 and moved("end", 0, 5) == 4


def test_pending_keys_are_the_unhandled_ones_oldest_first() -> None:
    assert pending("down:1 down:2 enter:3", 1) == [("down", 2), ("enter", 3)]
    assert pending("enter:3 home:2", 0) == [("home", 2), ("enter", 3)]
    assert pending("bogus:4 down:x up:5", 4) == [("up", 5)]
    assert pending("", 0) == []
