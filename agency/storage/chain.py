"""The events hash chain: canonical encoding, hashing, and verification.

Each event's ``hash`` is SHA-256 over ``prev_hash`` followed by the canonical JSON of the
row without ``hash``: sorted keys, no spaces, UTF-8, ``ts`` as integer microseconds since
the Unix epoch (exact, independent of time zones and of how a datetime prints). The first
event's ``prev_hash`` is 64 zeros.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb

from agency.storage.ops import ChainReport

_s = json.encoder.encode_basestring  # the C string encoder json.dumps uses (ensure_ascii=False)

GENESIS = "0" * 64
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)


def epoch_us(ts: datetime) -> int:
    return (ts - _EPOCH) // _US


def details_json(details: dict[str, Any]) -> str:
    """The canonical JSON of an event's details, stored verbatim and hashed as is."""
    try:
        return json.dumps(
            details, default=str, sort_keys=True, separators=(",", ":"), ensure_ascii=False
        )
    except TypeError:  # keys of mixed types cannot be sorted until they are all strings
        plain = json.loads(json.dumps(details, default=str))
        return json.dumps(plain, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical(
    seq: int,
    ts_us: int,
    actor: str,
    action: str,
    resource_type: str,
    resource_id: str,
    details: str,
    verdict: str | None,
    prev_hash: str,
) -> str:
    """``json.dumps(row, sort_keys=True, separators=(",", ":"), ensure_ascii=False)`` of the
    row without ``hash``, written out by hand because the writer hashes tens of thousands of
    events per second (``details`` is already canonical JSON)."""
    return (
        f'{{"action":{_s(action)},"actor":{_s(actor)},"details":{details},'
        f'"prev_hash":{_s(prev_hash)},"resource_id":{_s(resource_id)},'
        f'"resource_type":{_s(resource_type)},"seq":{seq},"ts":{ts_us},'
        f'"verdict":{"null" if verdict is None else _s(verdict)}}}'
    )


def event_hash(prev_hash: str, body: str) -> str:
    """SHA-256 over the previous hash followed by this row's canonical JSON."""
    return hashlib.sha256((prev_hash + body).encode()).hexdigest()


_VERIFY_SQL = """
SELECT seq, epoch_us(ts), actor, action, resource_type, resource_id, details, verdict,
       prev_hash, hash
FROM events ORDER BY seq
"""


def has_events(cur: duckdb.DuckDBPyConnection) -> bool:
    """Whether the database has an ``events`` table (a file that was never migrated has none)."""
    found = cur.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'events'"
    ).fetchone()
    return bool(found and found[0])


def verify(cur: duckdb.DuckDBPyConnection, chunk: int = 20_000) -> ChainReport:
    """Walk the events table in seq order; the first gap, broken link or wrong hash fails."""
    cur.execute(_VERIFY_SQL)
    expected_seq, prev, checked = 1, GENESIS, 0
    while batch := cur.fetchmany(chunk):
        for seq, ts_us, actor, action, rtype, rid, details, verdict, prev_hash, h in batch:
            if seq != expected_seq:
                return ChainReport(
                    False,
                    checked,
                    expected_seq,
                    f"event {expected_seq} is missing: the chain jumps to {seq}",
                    expected_seq - 1,
                )
            if prev_hash != prev:
                return ChainReport(
                    False,
                    checked,
                    seq,
                    f"event {seq} does not link to the hash of event {seq - 1}",
                    seq - 1,
                )
            body = canonical(seq, ts_us, actor, action, rtype, rid, details, verdict, prev_hash)
            if event_hash(prev_hash, body) != h:
                return ChainReport(
                    False,
                    checked,
                    seq,
                    f"event {seq} was changed: its content does not match its hash",
                    seq - 1,
                )
            prev, expected_seq, checked = h, seq + 1, checked + 1
    return ChainReport(True, checked, None, None, expected_seq - 1)


def head_seq(cur: duckdb.DuckDBPyConnection) -> int:
    """The highest seq in the events table (0 when it is empty)."""
    row = cur.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()
    return int(row[0]) if row else 0


def hashes_at(cur: duckdb.DuckDBPyConnection, seqs: list[int]) -> dict[int, str]:
    """The stored hash of each of ``seqs`` that still exists (checkpoints name them)."""
    if not seqs:
        return {}
    rows = cur.execute(
        "SELECT seq, hash FROM events WHERE list_contains(?, seq)", [sorted(set(seqs))]
    ).fetchall()
    return {int(seq): str(h) for seq, h in rows}
