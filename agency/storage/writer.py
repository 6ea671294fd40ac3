"""The synchronous half of the writer: prepares batches of queued writes and applies them.

``prepare`` turns a group commit's operations into segments (one per table and kind, rows
merged across callers) and gives the batch's events consecutive sequence numbers and their
place in the hash chain, without touching DuckDB. ``execute`` applies any number of prepared
batches in ONE DuckDB transaction: each table's rows become one Arrow table and one
statement per kind. Both run on the store's threads; ``execute`` is the only code that
writes through the connection.
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
from agency.storage.codec import Columns, check_rows, quote, to_arrow
from agency.storage.journal import Kind, Segment, set_applied_sql
from agency.storage.ops import Delete, Insert, Upsert, WriteOp

_BATCH = "_agency_batch"
_KINDS: dict[type, Kind] = {Insert: "insert", Upsert: "upsert", Delete: "delete"}
#: JSON columns written as the exact text given: event details are stored as hashed
_VERBATIM = {"events": frozenset({"details"})}


@dataclass
class _Rows:
    """Consecutive same-kind operations on one table, still as dicts."""

    kind: Kind
    key: tuple[str, ...]
    rows: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class ChainHead:
    """The last event given a place in the chain: the writer continues from here."""

    seq: int = 0
    hash: str = GENESIS


@dataclass
class Prepared:
    """A batch ready to apply: its segments, each group's events, the chain head after it."""

    segments: list[Segment]
    events: list[list[Event]]
    head: ChainHead


class BatchWriter:
    """Prepares groups of callers' operations and applies prepared batches on ``conn``."""

    def __init__(
        self,
        conn: duckdb.DuckDBPyConnection,
        columns: Columns,
        head: ChainHead,
        required: dict[str, frozenset[str]] | None = None,
        sole_keys: dict[str, frozenset[str]] | None = None,
    ) -> None:
        self.conn = conn
        self.columns = columns
        self.head = head
        self.required = required or {}
        #: tables whose only unique key is known: their upserts delete by it, then insert
        self.sole_keys = sole_keys or {}

    def prepare(self, groups: Sequence[Sequence[WriteOp]], *, check: bool = False) -> Prepared:
        """Validate and convert ``groups``; chains their events after ``head`` (not moved).

        Raises ``StorageError`` for an unknown table or column, before anything is written;
        with ``check`` also for a value a column cannot hold or a missing required one
        (writes acknowledged before DuckDB sees them; DuckDB itself refuses the others).
        """
        tables: dict[str, list[_Rows]] = {}
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
                kind = _KINDS.get(type(op))
                if kind is None:
                    raise StorageError(f"not a write operation: {type(op).__name__}")
                rows = op.keys if isinstance(op, Delete) else op.rows
                if isinstance(op, Upsert):
                    key = tuple(op.key)
                elif isinstance(op, Delete):
                    key = tuple(sorted({k for r in op.keys for k in r}))
                else:
                    key = ()
                self._add(tables, op.table, kind, key, rows)
                if check and kind != "delete":
                    check_rows(
                        op.table,
                        self.columns[op.table],
                        self.required.get(op.table, frozenset()),
                        rows,
                    )
            events.append(mine)
        segments = [
            Segment(table, part.kind, part.key, part.rows)
            for table, parts in tables.items()
            for part in parts
        ]
        if stored:
            segments.append(
                Segment("events", "insert", (), [_event_row(e, text) for e, text in stored])
            )
        return Prepared(segments, events, ChainHead(seq, prev))

    def execute(self, batches: Sequence[Sequence[Segment]], applied: int | None = None) -> None:
        """Apply the batches in one transaction, in order; ``applied`` is the journal mark.

        Consecutive segments of a table with the same kind are merged into one statement
        (tables have no foreign keys, so only the order within one table matters). On any
        failure the transaction is rolled back and the error propagates.
        """
        merged: dict[str, list[Segment]] = {}
        for segments in batches:
            for seg in segments:
                parts = merged.setdefault(seg.table, [])
                if parts and (parts[-1].kind, parts[-1].key) == (seg.kind, seg.key):
                    parts[-1].rows.extend(
                        seg.rows
                    )  # a copy: the batches' own lists stay as they are
                else:
                    parts.append(Segment(seg.table, seg.kind, seg.key, list(seg.rows)))
        self.conn.execute("BEGIN TRANSACTION")
        try:
            for table, parts in merged.items():
                for seg in parts:
                    self._execute(table, seg)
            if applied is not None:
                self.conn.execute(set_applied_sql(), [applied])
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        finally:
            self._unregister()

    def apply(self, groups: Sequence[Sequence[WriteOp]]) -> list[list[Event]]:
        """Prepare and apply ``groups`` in one transaction; moves the head once committed."""
        prepared = self.prepare(groups)
        self.execute([prepared.segments])
        self.head.seq, self.head.hash = prepared.head.seq, prepared.head.hash
        return prepared.events

    @staticmethod
    def _chain(ev: EventIn, seq: int, prev: str) -> tuple[Event, str]:
        ts = utcnow()
        text = details_json(ev.details)
        body = canonical(
            seq,
            epoch_us(ts),
            ev.actor,
            ev.action,
            ev.resource_type,
            ev.resource_id,
            text,
            ev.verdict,
            prev,
        )
        # plain validation: in pydantic 2.14 it is twice as fast as model_construct
        event = Event(
            actor=ev.actor,
            action=ev.action,
            resource_type=ev.resource_type,
            resource_id=ev.resource_id,
            details=json.loads(text),
            verdict=ev.verdict,
            seq=seq,
            ts=ts,
            prev_hash=prev,
            hash=event_hash(prev, body),
        )
        return event, text

    def _add(
        self,
        tables: dict[str, list[_Rows]],
        table: str,
        kind: Kind,
        key: tuple[str, ...],
        rows: list[dict[str, Any]],
    ) -> None:
        columns = self.columns.get(table)
        if columns is None:
            raise StorageError(f"no table named {table!r}", details={"table": table})
        if not rows:
            return
        names = {c for c, _ in columns}
        for row in rows:
            if not names.issuperset(row):
                unknown = sorted(set(row) - names)
                raise StorageError(f"{table} has no column(s) {unknown}", details={"table": table})
        parts = tables.setdefault(table, [])
        if not parts or parts[-1].kind != kind or parts[-1].key != key:
            parts.append(_Rows(kind, key))
        parts[-1].rows.extend(rows)

    def _execute(self, table: str, seg: Segment) -> None:
        columns = self.columns[table]
        if seg.kind == "delete":
            key_cols = [c for c in columns if c[0] in seg.key]
            if len(key_cols) != len(seg.key):
                raise StorageError(f"{table}: delete keys {list(seg.key)} are not all columns")
            self._register(to_arrow(table, key_cols, seg.rows))
            match = " AND ".join(f"t.{quote(k)} = b.{quote(k)}" for k in seg.key)
            self.conn.execute(f"DELETE FROM {quote(table)} AS t USING {_BATCH} AS b WHERE {match}")
            return
        rows = seg.rows
        if seg.kind == "upsert":
            # DuckDB refuses to touch one row twice in one statement: the last write wins
            rows = list({tuple(r.get(k) for k in seg.key): r for r in rows}.values())
        names = ", ".join(quote(c) for c, _ in columns)
        verb = "INSERT"
        self._register(to_arrow(table, columns, rows, _VERBATIM.get(table, frozenset())))
        if seg.kind == "upsert":
            if self.sole_keys.get(table) == frozenset(seg.key):
                # INSERT OR REPLACE costs about 5 ms of CPU a statement here whatever it
                # carries (DuckDB's conflict handling); with the table's only unique key,
                # deleting those keys and inserting replaces the same rows for about half
                match = " AND ".join(f"t.{quote(k)} = b.{quote(k)}" for k in seg.key)
                self.conn.execute(
                    f"DELETE FROM {quote(table)} AS t USING {_BATCH} AS b WHERE {match}"
                )
            else:
                verb = "INSERT OR REPLACE"
        self.conn.execute(f"{verb} INTO {quote(table)} ({names}) SELECT {names} FROM {_BATCH}")

    def _register(self, batch: pa.Table) -> None:
        self._unregister()
        self.conn.register(_BATCH, batch)

    def _unregister(self) -> None:
        try:
            self.conn.unregister(_BATCH)
        except duckdb.Error:
            return


def _event_row(ev: Event, details: str) -> dict[str, Any]:
    """The stored row of a chained event (``details`` is the exact hashed JSON text)."""
    return {
        "seq": ev.seq,
        "ts": ev.ts,
        "actor": ev.actor,
        "action": ev.action,
        "resource_type": ev.resource_type,
        "resource_id": ev.resource_id,
        "details": details,
        "verdict": ev.verdict,
        "prev_hash": ev.prev_hash,
        "hash": ev.hash,
    }
