"""Task tokens: signed, scoped to one attempt, voided by its end, its expiry, a forged byte or
a new admin secret, and the same across a control-plane restart."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from agency.control.task_tokens import TaskTokens
from agency.errors import TokenExpired, Unauthorized
from agency.models import utcnow
from agency.settings import Settings

LATER = timedelta(minutes=5)


def tokens(tmp_path: Path, admin: str = "admin-secret-one") -> TaskTokens:
    book = TaskTokens.from_settings(Settings(data_dir=tmp_path, admin_token=admin))
    book.live = lambda task_id, attempt: (task_id, attempt) in {("t.1", 2), ("abc", 1)}
    return book


def test_a_token_names_its_attempt_and_survives_a_restart(tmp_path: Path) -> None:
    secret = tokens(tmp_path).mint("t.1", 2, utcnow() + LATER)
    assert secret.startswith("agyt_")
    grant = tokens(tmp_path).verify(secret)  # a new instance: the key is derived, not random
    assert (grant.task_id, grant.attempt) == ("t.1", 2)


def test_ended_forged_expired_or_rekeyed_tokens_are_refused(tmp_path: Path) -> None:
    book = tokens(tmp_path)
    with pytest.raises(Unauthorized, match="ended"):
        book.verify(book.mint("t.1", 1, utcnow() + LATER))  # an earlier attempt
    with pytest.raises(TokenExpired):
        book.verify(book.mint("abc", 1, utcnow() - timedelta(seconds=1)))
    good = book.mint("abc", 1, utcnow() + LATER)
    body, _, sig = good.rpartition(".")
    for forged in (
        f"{body}.{sig[:-1]}{'A' if sig[-1] != 'A' else 'B'}",
        good.replace("abc.1.", "abc.2."),
        "agyt_abc.1",
        "agyt_",
    ):
        with pytest.raises(Unauthorized, match="unknown token"):
            book.verify(forged)
    with pytest.raises(Unauthorized, match="unknown token"):
        tokens(tmp_path, admin="another-admin-secret").verify(good)
