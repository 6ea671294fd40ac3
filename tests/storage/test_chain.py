"""The audit chain: canonical encoding, and `agency audit verify` catching edits and deletions."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from agency.cli import app
from agency.models import EventIn
from agency.storage import Store
from agency.storage.chain import canonical, details_json, event_hash

runner = CliRunner()


def test_canonical_is_sorted_compact_json() -> None:
    details = {"b": [1, 2.5, None], "a": {"z": 'é\n"', "y": True}}
    text = details_json(details)
    row = {
        "seq": 7,
        "ts": 1_700_000_000_123_456,
        "actor": 'al"ice',
        "action": "x",
        "resource_type": "task",
        "resource_id": "t1",
        "details": details,
        "verdict": None,
        "prev_hash": "0" * 64,
    }
    expected = json.dumps(row, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    got = canonical(7, 1_700_000_000_123_456, 'al"ice', "x", "task", "t1", text, None, "0" * 64)
    assert got == expected
    assert event_hash("0" * 64, got) != event_hash("0" * 64, got.replace("t1", "t2"))
    # keys of mixed types are stringified before sorting instead of crashing the writer
    assert details_json({1: "a", "b": 2}) == '{"1":"a","b":2}'


async def _seed(path: Path, n: int = 10) -> None:
    s = await Store.open(path)
    await s.append(
        *(
            EventIn(
                actor="a",
                action="task.created",
                resource_type="task",
                resource_id=f"t{i}",
                details={"i": i},
            )
            for i in range(n)
        )
    )
    await s.close()


def _verify(path: Path, *extra: str) -> tuple[int, str]:
    result = runner.invoke(app, ["audit", "verify", "--db", str(path), *extra])
    return result.exit_code, result.output


async def test_intact_chain_exits_0(settings_path: Path) -> None:
    await _seed(settings_path)
    code, out = _verify(settings_path)
    assert code == 0 and "10 events" in out
    code, out = _verify(settings_path, "--json")
    assert code == 0 and json.loads(out) == {
        "ok": True,
        "checked": 10,
        "first_bad_seq": None,
        "reason": None,
        "last_seq": 10,
    }


@pytest.mark.parametrize(
    ("tamper", "bad_seq", "words"),
    [
        ("UPDATE events SET details = '{\"i\":99}' WHERE seq = 4", 4, "changed"),
        ("UPDATE events SET actor = 'mallory' WHERE seq = 1", 1, "changed"),
        ("UPDATE events SET ts = ts + INTERVAL 1 SECOND WHERE seq = 10", 10, "changed"),
        ("DELETE FROM events WHERE seq = 6", 6, "missing"),
        ("UPDATE events SET prev_hash = repeat('1', 64) WHERE seq = 3", 3, "link"),
    ],
)
async def test_edited_or_deleted_event_exits_1_naming_it(
    settings_path: Path, tamper: str, bad_seq: int, words: str
) -> None:
    await _seed(settings_path)
    other = duckdb.connect(str(settings_path))  # a second connection, store closed
    other.execute(tamper)
    other.close()
    code, out = _verify(settings_path)
    assert code == 1 and f"seq {bad_seq}" in out and words in out
    code, out = _verify(settings_path, "--json")
    assert code == 1 and json.loads(out)["first_bad_seq"] == bad_seq


async def test_recomputing_one_hash_is_still_caught_by_the_next_link(settings_path: Path) -> None:
    await _seed(settings_path)
    conn = duckdb.connect(str(settings_path))
    seq, ts_us, actor, action, rtype, rid, prev = conn.execute(
        "SELECT seq, epoch_us(ts), actor, action, resource_type, resource_id, prev_hash FROM events WHERE seq = 5"
    ).fetchone()
    body = canonical(seq, ts_us, actor, action, rtype, rid, '{"i":500}', None, prev)
    conn.execute(
        "UPDATE events SET details = '{\"i\":500}', hash = ? WHERE seq = 5",
        [event_hash(prev, body)],
    )
    conn.close()
    code, out = _verify(settings_path)
    assert code == 1 and "seq 6" in out


def test_verify_without_a_database_exits_2(tmp_path: Path) -> None:
    code, out = _verify(tmp_path / "missing.duckdb")
    assert code == 2 and "no database" in out


async def test_the_real_command_exits_1_on_tampering(settings_path: Path) -> None:
    await _seed(settings_path, 3)
    conn = duckdb.connect(str(settings_path))
    conn.execute("DELETE FROM events WHERE seq = 2")
    conn.close()
    out = subprocess.run(
        [sys.executable, "-m", "agency", "audit", "verify", "--db", str(settings_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 1, out.stderr
    assert "BROKEN at seq 2" in out.stdout
