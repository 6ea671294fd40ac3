"""The write-ahead journal: durable in a quarter of a millisecond, applied to DuckDB later.

A DuckDB commit of one small change costs 3 to 8 ms here (every statement is planned and
run by an analytical engine), while appending to a file and ``fdatasync``-ing it costs about
0.3 ms. Writes that cannot conflict (task transitions: upserts and their events) are
therefore made durable here first, acknowledged, and applied to the DuckDB file in large
batches right after. DuckDB records the last applied record in ``store_journal`` in the same
transaction, so on open the store replays exactly the records DuckDB does not hold yet.

A record is a frame header (magic, payload length, CRC-32, record number) and a payload:
the JSON list of its segments, rows as plain JSON (times as text, which the codec parses
back for TIMESTAMP columns). Turning rows into Arrow for DuckDB is left to the apply, off the
writer's path. A torn last record (a crash mid-append: never acknowledged) fails its CRC
and is cut off.
"""

from __future__ import annotations

import json
import logging
import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import duckdb

from agency.errors import StorageError
from agency.storage.codec import json_default

log = logging.getLogger(__name__)

Kind = Literal["insert", "upsert", "delete"]
_FRAME = struct.Struct(">4sIIQ")  # magic, payload bytes, crc32 of payload, record number
_MAGIC = b"AGJ1"
BOOTSTRAP = (
    "CREATE TABLE IF NOT EXISTS store_journal (id INTEGER PRIMARY KEY, applied BIGINT NOT NULL)"
)


@dataclass(frozen=True)
class Segment:
    """Rows of one table written by one statement kind (``key`` names the upsert key)."""

    table: str
    kind: Kind
    key: tuple[str, ...]
    rows: list[dict[str, Any]]


@dataclass(frozen=True)
class Record:
    """One journal record: the segments of one group commit, in order."""

    number: int
    segments: list[Segment]


def encode(segments: list[Segment]) -> bytes:
    """A record's payload: its segments as one JSON document."""
    return json.dumps(
        [[seg.table, seg.kind, seg.key, seg.rows] for seg in segments],
        default=json_default,
        separators=(",", ":"),
    ).encode()


def decode(payload: bytes) -> list[Segment]:
    return [
        Segment(table, kind, tuple(key), rows) for table, kind, key, rows in json.loads(payload)
    ]


def _frame(number: int, payload: bytes) -> bytes:
    return _FRAME.pack(_MAGIC, len(payload), zlib.crc32(payload), number) + payload


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _sync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def pending_bytes(database: Path) -> int:
    """Size of the journal next to ``database``: non-zero after a stop that was not clean."""
    try:
        return database.with_name(database.name + ".journal").stat().st_size
    except FileNotFoundError:
        return 0


def applied_mark(conn: duckdb.DuckDBPyConnection) -> int:
    """The number of the last record DuckDB holds (0 when none was ever applied)."""
    conn.execute(BOOTSTRAP)
    row = conn.execute("SELECT applied FROM store_journal WHERE id = 1").fetchone()
    return int(row[0]) if row else 0


def set_applied_sql() -> str:
    """The statement, run inside the applying transaction, that records the mark."""
    return "INSERT OR REPLACE INTO store_journal (id, applied) VALUES (1, ?)"


class Journal:
    """The append-only file next to the DuckDB file (``<name>.journal``)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rejected = path.with_name(path.name + ".rejected")
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        self.last = 0  # number of the last record written
        self._size = os.fstat(self._fd).st_size
        self._broken: str | None = None

    @classmethod
    def for_database(cls, database: Path) -> Journal:
        return cls(database.with_name(database.name + ".journal"))

    def replay(self, applied: int) -> list[Record]:
        """The intact records after ``applied``; a torn or corrupt tail is cut off the file."""
        with open(self.path, "rb") as f:
            raw = f.read()
        records: list[Record] = []
        at = 0
        while at < len(raw):
            if len(raw) - at < _FRAME.size:
                break
            magic, size, crc, number = _FRAME.unpack_from(raw, at)
            payload = raw[at + _FRAME.size : at + _FRAME.size + size]
            if magic != _MAGIC or len(payload) != size or zlib.crc32(payload) != crc:
                break
            self.last = max(self.last, number)
            if number > applied:
                records.append(Record(number, decode(payload)))
            at += _FRAME.size + size
        if at < len(raw):
            log.warning(
                "journal %s: cut %d bytes of a torn or corrupt record at offset %d "
                "(it was never acknowledged)",
                self.path,
                len(raw) - at,
                at,
            )
            os.ftruncate(self._fd, at)
            os.fsync(self._fd)
        self._size = at
        self.last = max(self.last, applied)
        return records

    def append(self, segments: list[Segment]) -> int:
        """Write one record and ``fdatasync`` it; returns its number once it is durable."""
        if self._broken is not None:
            raise StorageError(
                f"the journal is unusable since an earlier failure: {self._broken}",
                details={"path": str(self.path)},
            )
        payload = encode(segments)
        number = self.last + 1
        data = _frame(number, payload)
        try:
            _write_all(self._fd, data)
            os.fdatasync(self._fd)
        except OSError as exc:
            # never acknowledged; and its partial bytes must go, or every record appended
            # after them would sit behind a torn one, which replay stops at
            try:
                os.ftruncate(self._fd, self._size)
            except OSError as cut:
                self._broken = f"{exc}; then could not cut the partial record: {cut}"
            raise StorageError(
                f"journal write failed: {exc}", details={"path": str(self.path)}
            ) from exc
        self.last = number
        self._size += len(data)
        return number

    def reset(self) -> None:
        """Empty the file: call only when DuckDB holds every record written."""
        if self._size:
            os.ftruncate(self._fd, 0)
            self._size = 0

    @property
    def size(self) -> int:
        """Bytes in the file."""
        return self._size

    def compact(self, keep: list[Record]) -> None:
        """Replace the file by one holding only ``keep`` (the records DuckDB may not hold yet).

        Under steady load DuckDB never catches up at the very moment of a write, so the
        file is never empty when ``reset`` could run; this bounds it instead. The new file
        is written aside, synced, renamed over the old one and the directory synced, so a
        crash at any point leaves one complete file holding every unapplied record.
        """
        aside = self.path.with_name(self.path.name + ".compact")
        data = b"".join(_frame(r.number, encode(r.segments)) for r in keep)
        fd = os.open(aside, os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o600)
        try:
            _write_all(fd, data)
            os.fsync(fd)
            os.rename(aside, self.path)
        except OSError as exc:
            os.close(fd)
            aside.unlink(missing_ok=True)
            # the old file is intact and still in use: only the compaction is lost
            log.warning(
                "journal %s: compaction failed (%s); the file keeps growing", self.path, exc
            )
            return
        # renamed: the new file is the journal now, whatever follows
        os.close(self._fd)
        self._fd = fd
        self._size = len(data)
        try:
            _sync_dir(self.path.parent)
        except OSError as exc:
            # until the directory is synced a power loss could bring the old file back
            # without the records appended from now on: the write waiting on this fails
            raise StorageError(
                f"journal compaction: could not sync {self.path.parent}: {exc}",
                details={"path": str(self.path)},
            ) from exc

    def reject(self, record: Record, error: BaseException) -> None:
        """Keep a record DuckDB refused in ``<name>.journal.rejected``, for an operator to see."""
        payload = encode(record.segments)
        with open(self.rejected, "ab") as f:
            f.write(_frame(record.number, payload))
        log.error(
            "journal record %d could not be applied to DuckDB (%s); kept in %s",
            record.number,
            error,
            self.rejected,
        )

    def close(self, *, remove: bool) -> None:
        os.close(self._fd)
        if remove:
            self.path.unlink(missing_ok=True)
