"""The synchronous half of the writer: applies a batch of queued writes in one transaction.

It runs on the store's single writer thread and is the only code that writes through the
connection. Rows of the same table and kind are merged into one multi-row statement; the
events of the whole batch get consecutive sequence numbers and their place in the hash chain.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pyarrow as pa

from agency.errors import StorageError
from agency.models import Event, EventIn, utcnow
from agency.storage.chain import GENESIS, canonical, details_json, epoch_us, event_hash
from agency.storage.codec import Columns, quote, to_arrow
from agency.storage.ops import Delete, Insert, Upsert, WriteOp

_BATCH = "_agency_batch"


@dataclass
class _Segment:
    """Consecutive same-kind operations on one table, executed as one statement."""

    kind: type
    key: tuple[str, ...]
    rows: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class ChainHead:
    """The last committed event: the writer continues the chain from here."""

    seq: int = 0
    hash: str = GENESIS


class BatchWriter:
    """Applies groups of callers' operations in one transaction on ``conn``."""

    def __init__(self, conn: duckdb.DuckDBPyConnection, columns: Columns, head: ChainHead) -> None:
        self.conn = conn
        self.columns = columns
        self.head = head

    def apply(self, groups: Sequence[Sequence[WriteOp]]) -> list[list[Event]]:
        """Write every group in one transaction; returns each group's appended events.

        On any failure the transaction is rolled back, the chain head is unchanged and the
        error propagates (the caller retries groups one by one to isolate a bad one).
        """
        tables: dict[str, list[_Segment]] = {}
        events: list[list[Event]] = []
        stored: list[tuple[Event, str]] = []
        seq, prev = self.head.seq, self.head.hash
        for ops in groups:
            mine: list[Event] = []
            for op in ops:
                if isinstance(op, EventIn):
                    seq += 1
                    ev, text = self._chain(op, seq, prev)
                    prev = ev.hash
                    mine.append(ev)
                    stored.append((ev, text))
                    continue
                if op.table == "events":
                    raise StorageError("events are append-only: write EventIn, never rows")
                if isinstance(op, Upsert):
                    self._add(tables, op.table, Upsert, tuple(op.key), op.rows)
                elif isinstance(op, Insert):
                    self._add(tables, op.table, Insert, (), op.rows)
                elif isinstance(op, Delete):
                    self._add(tables, op.table, Delete, (), op.keys)
                else:
                    raise StorageError(f"not a write operation: {type(op).__name__}")
            events.append(mine)
        self.conn.execute("BEGIN TRANSACTION")
        try:
            # tables have no foreign keys, so only the order within one table matters
            for table, segments in tables.items():
                for seg in segments:
                    self._execute(table, seg)
            if stored:
                self._insert_events(stored)
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        finally:
            self._unregister()
        self.head.seq, self.head.hash = seq, prev
        return events

    @staticmethod
    def _chain(ev: EventIn, seq: int, prev: str) -> tuple[Event, str]:
        ts = utcnow()
        text = details_json(ev.details)
        body = canonical(seq, epoch_us(ts), ev.actor, ev.action, ev.resource_type,
                         ev.resource_id, text, ev.verdict, prev)
        # plain validation: in pydantic 2.14 it is twice as fast as model_construct
        event = Event(
            actor=ev.actor, action=ev.action, resource_type=ev.resource_type,
            resource_id=ev.resource_id, details=json.loads(text), verdict=ev.verdict,
            seq=seq, ts=ts, prev_hash=prev, hash=event_hash(prev, body),
        )
        return event, text

    def _insert_events(self, stored: list[tuple[Event, str]]) -> None:
        evs = [e for e, _ in stored]
        batch = pa.table({
            "seq": pa.array([e.seq for e in evs], pa.int64()),
            "ts": pa.array([e.ts for e in evs], pa.timestamp("us", tz="UTC")),
            "actor": [e.actor for e in evs],
            "action": [e.action for e in evs],
            "resource_type": [e.resource_type for e in evs],
            "resource_id": [e.resource_id for e in evs],
            "details": [text for _, text in stored],
            "verdict": pa.array([e.verdict for e in evs], pa.string()),
            "prev_hash": [e.prev_hash for e in evs],
            "hash": [e.hash for e in evs],
        })
        names = ", ".join(quote(c) for c in batch.column_names)
        self._register(batch)
        self.conn.execute(f"INSERT INTO events ({names}) SELECT {names} FROM {_BATCH}")

    def _add(self, tables: dict[str, list[_Segment]], table: str, kind: type,
             key: tuple[str, ...], rows: list[dict[str, Any]]) -> None:
        if table not in self.columns:
            raise StorageError(f"no table named {table!r}", details={"table": table})
        if not rows:
            return
        segments = tables.setdefault(table, [])
        if not segments or segments[-1].kind is not kind or segments[-1].key != key:
            segments.append(_Segment(kind, key))
        segments[-1].rows.extend(rows)

    def _execute(self, table: str, seg: _Segment) -> None:
        columns = self.columns[table]
        rows = seg.rows
        if seg.kind is Upsert:
            # DuckDB refuses to touch one row twice in one statement: the last write wins
            rows = list({tuple(r.get(k) for k in seg.key): r for r in rows}.values())
        if seg.kind is Delete:
            keys = sorted({k for r in rows for k in r})
            key_cols = [c for c in columns if c[0] in keys]
            if len(key_cols) != len(keys):
                raise StorageError(f"{table}: delete keys {keys} are not all columns")
            self._register(to_arrow(table, key_cols, rows))
            match = " AND ".join(f"t.{quote(k)} = b.{quote(k)}" for k in keys)
            self.conn.execute(f"DELETE FROM {quote(table)} AS t USING {_BATCH} AS b WHERE {match}")
            return
        names = ", ".join(quote(c) for c, _ in columns)
        verb = "INSERT OR REPLACE" if seg.kind is Upsert else "INSERT"
        self._register(to_arrow(table, columns, rows))
        self.conn.execute(f"{verb} INTO {quote(table)} ({names}) SELECT {names} FROM {_BATCH}")

    def _register(self, batch: pa.Table) -> None:
        self._unregister()
        self.conn.register(_BATCH, batch)

    def _unregister(self) -> None:
        try:
            self.conn.unregister(_BATCH)
        except duckdb.Error:
            return
