"""Refusal events: sampled per key with the count left out, written in the background."""

from __future__ import annotations

from pathlib import Path

from agency.control.refusals import Refusals, without_userinfo
from agency.storage import Repositories


async def test_sampling_per_key_counts_what_it_left_out(tmp_path: Path) -> None:
    repos = await Repositories.open(tmp_path / "db.duckdb")
    now = [100.0]
    log = Refusals(repos.events, 10.0, clock=lambda: now[0])
    try:

        def refuse(key: str) -> bool:
            return log.refuse(
                "auth.denied",
                actor="unknown",
                resource_type="token",
                resource_id="unknown",
                address=key,
                reason="unknown token",
                key=key,
            )

        assert refuse("10.0.0.1") and refuse("10.0.0.2")
        assert not any(refuse("10.0.0.1") for _ in range(30))
        now[0] += 10.0
        assert refuse("10.0.0.1")
        await log.settle()
        found = await repos.events.find(action="auth.denied")
        assert [(e.details["address"], e.details["suppressed"]) for e in found] == [
            ("10.0.0.1", 0),
            ("10.0.0.2", 0),
            ("10.0.0.1", 30),
        ]
        assert {e.verdict for e in found} == {"denied"}
        # no key: every refusal is written
        for _ in range(3):
            log.refuse(
                "query.refused",
                actor="quinn",
                resource_type="query",
                resource_id="adhoc",
                address=None,
                reason="only SELECT",
            )
        await log.settle()
        assert len(await repos.events.find(action="query.refused")) == 3
    finally:
        await log.close()
        await repos.close()


async def test_keys_stay_bounded_under_a_flood_of_addresses(tmp_path: Path) -> None:
    repos = await Repositories.open(tmp_path / "db.duckdb")
    log = Refusals(repos.events, 60.0, keys_max=50)
    try:
        for i in range(200):
            log.refuse(
                "auth.denied",
                actor="unknown",
                resource_type="token",
                resource_id="unknown",
                address=f"10.0.{i // 256}.{i % 256}",
                reason="unknown token",
                key=i,
            )
        assert log.keys <= 50
        await log.settle()
        assert len(await repos.events.find(action="auth.denied", limit=1000)) == 200
    finally:
        await log.close()
        await repos.close()


def test_a_credential_in_a_url_is_not_kept() -> None:
    assert without_userinfo("http://u:p@10.0.0.1:8000/x") == "http://***@10.0.0.1:8000/x"
    assert without_userinfo("http://10.0.0.1:8000") == "http://10.0.0.1:8000"
