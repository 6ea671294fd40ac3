"""``Store``: the single owner of the DuckDB file.

One writer task drains a queue of callers' writes and hands each batch to the writer
thread (group commit). A batch resolves its callers' futures once it is durable:

* ``write(..., journal=True)`` (task transitions: upserts and events, which cannot
  conflict): durable when its record is ``fdatasync``-ed to the journal (about 0.3 ms); an
  ingest thread then applies journaled records to DuckDB in large transactions.
* ``write(...)``: durable when DuckDB commits it, after every journaled record before it,
  in the same transaction; a constraint violation fails only that caller (``Conflict``).

Reads run on a small pool of cursors, each on its own thread, never on the event loop, and
first wait until DuckDB holds every write acknowledged before them (read your writes).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from agency.errors import AgencyError, Conflict, StorageError, StoreClosed
from agency.models import Event, EventIn
from agency.settings import Settings
from agency.storage import chain, userquery
from agency.storage.codec import decode_rows, load_columns, load_required, load_sole_keys
from agency.storage.connection import connect, first_line
from agency.storage.journal import Journal, Record, applied_mark
from agency.storage.migrate import Migrator
from agency.storage.ops import ChainReport, QueryResult, WriteOp
from agency.storage.subscribe import EventSubscription
from agency.storage.writer import BatchWriter, ChainHead

log = logging.getLogger(__name__)
Params = list[Any] | dict[str, Any] | None
READERS = 4
#: longest a read waits for DuckDB to catch up with the journal before it is refused
CATCH_UP_TIMEOUT = 30.0
#: how long journaled records gather before they are applied to DuckDB, unless a read
#: waits for them: an apply costs 10-20 ms of CPU here whatever it carries (a DuckDB
#: statement costs ms), and applying often takes that CPU from the very tasks whose next
#: steps are due (2 cores). At 150 tasks/s on a loaded machine, 0.2 s instead of 0.05 s
#: took submit -> final event from p50 0.5-2.4 s to 0.02-0.2 s (with the GIL's 0.5 ms
#: switch interval, ``gcpolicy.hand_off_quickly``; with the default 5 ms it did not help)
APPLY_DELAY = 0.2
#: records queued that make the store apply at once
APPLY_BACKLOG = 256
#: journal size past which it is rewritten with only the records DuckDB may not hold yet
COMPACT_BYTES = 4 << 20
#: journal size past which it is emptied once DuckDB holds all of it: truncating before
#: every append made the next ``fdatasync`` also commit the size change (twice the cost of
#: a plain append here); records DuckDB already holds are skipped by replay
RESET_BYTES = 1 << 20


@dataclass
class _Pending:
    ops: tuple[WriteOp, ...]
    future: asyncio.Future[list[Event]]
    journal: bool = False


class Store:
    """The DuckDB file's owner: group-committed writes, off-loop reads, user SQL, audit chain."""

    def __init__(
        self,
        path: Path,
        conn: duckdb.DuckDBPyConnection,
        head: ChainHead,
        journal: Journal,
        *,
        batch_max: int,
        row_cap: int,
        query_timeout: float,
    ) -> None:
        self.path = path
        self.batch_max = batch_max
        self.row_cap = row_cap
        self.query_timeout = query_timeout
        self._conn = conn
        self._head = head
        self._writer = BatchWriter(
            conn, load_columns(conn), head, load_required(conn), load_sole_keys(conn)
        )
        self._journal = journal
        self._write_thread = ThreadPoolExecutor(1, thread_name_prefix="agency-writer")
        self._ingest_thread = ThreadPoolExecutor(1, thread_name_prefix="agency-ingest")
        self._read_threads = ThreadPoolExecutor(READERS, thread_name_prefix="agency-read")
        # journaled records DuckDB does not hold yet, in order; the lock guards the list,
        # _duck serializes DuckDB write transactions (ingest thread and writer thread)
        self._unapplied: list[Record] = []
        self._unapplied_lock = threading.Lock()
        self._duck = threading.Lock()
        self._applied = journal.last  # last record DuckDB holds (written by the threads)
        self._acked = journal.last  # last record whose callers were answered (loop only)
        self._caught_up = asyncio.Event()
        self._apply_now = asyncio.Event()
        self._ingesting: asyncio.Task[None] | None = None
        # cursors are made up front, before the writer thread starts using the connection
        self._cursors: queue.Queue[duckdb.DuckDBPyConnection] = queue.Queue()
        for _ in range(READERS):
            self._cursors.put(conn.cursor())
        self._queue: asyncio.Queue[_Pending | None] = asyncio.Queue()
        self._subs: set[EventSubscription] = set()
        self._closing = False
        self._closer: asyncio.Task[None] | None = None
        self._task = asyncio.get_running_loop().create_task(self._run(), name="agency-store-writer")

    @classmethod
    async def open(
        cls,
        path: Path,
        *,
        batch_max: int = 2000,
        migrate: bool = True,
        migrations_dir: Path | None = None,
        row_cap: int = 10_000,
        query_timeout: float = 5.0,
    ) -> Store:
        """Open (creating) the file, replay the journal, apply pending migrations, start the writer."""
        path = Path(path)

        def prepare() -> tuple[duckdb.DuckDBPyConnection, ChainHead, Journal]:
            conn = connect(path)
            journal: Journal | None = None
            try:
                journal = Journal.for_database(path)
                records = journal.replay(applied_mark(conn))
                if records:
                    # acknowledged before a crash: DuckDB gets them before anything else,
                    # migrations included (they were written against the schema as it is)
                    writer = BatchWriter(
                        conn, load_columns(conn), ChainHead(), sole_keys=load_sole_keys(conn)
                    )
                    apply_records(writer, journal, records, lambda _: None)
                    log.info("replayed %d journal record(s) into %s", len(records), path)
                journal.reset()
                if migrate:
                    Migrator(conn, migrations_dir).migrate()
                head = ChainHead()
                if chain.has_events(conn):
                    last = conn.execute(
                        "SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1"
                    ).fetchone()
                    if last:
                        head = ChainHead(int(last[0]), str(last[1]))
            except BaseException:
                if journal is not None:
                    journal.close(remove=False)
                conn.close()
                raise
            return conn, head, journal

        conn, head, journal = await asyncio.to_thread(prepare)
        return cls(
            path,
            conn,
            head,
            journal,
            batch_max=batch_max,
            row_cap=row_cap,
            query_timeout=query_timeout,
        )

    @classmethod
    async def from_settings(cls, settings: Settings, *, migrate: bool = True) -> Store:
        """Open ``settings.database_path`` with the batch, row-cap and timeout settings."""
        return await cls.open(
            settings.database_path,
            batch_max=settings.write_batch_max,
            migrate=migrate,
            row_cap=settings.query_row_cap,
            query_timeout=settings.query_timeout,
        )

    @property
    def last_seq(self) -> int:
        """Sequence number of the last acknowledged event (0 when there is none)."""
        return self._head.seq

    @property
    def closed(self) -> bool:
        return self._closing

    # --- writes ------------------------------------------------------------------------------

    async def write(self, *ops: WriteOp, journal: bool = False) -> list[Event]:
        """Make ``ops`` durable together, atomically; returns the appended events in order.

        With ``journal`` the write is acknowledged once its journal record is on disk and
        reaches DuckDB moments later (reads wait for it); use it only for writes that cannot
        conflict (upserts, events, inserts of fresh keys): a row DuckDB refuses then is not
        an error for the caller, it is logged and kept aside in ``<db>.journal.rejected``.
        """
        return await self.write_nowait(*ops, journal=journal)

    def write_nowait(self, *ops: WriteOp, journal: bool = False) -> asyncio.Future[list[Event]]:
        """Queue ``ops`` now, without yielding; the future resolves as ``write`` returns.

        Writes queued in the same turn of the event loop land in the same group commit.
        """
        if self._closing:
            raise StoreClosed("the store is closed", details={"path": str(self.path)})
        fut: asyncio.Future[list[Event]] = asyncio.get_running_loop().create_future()
        if not ops:
            fut.set_result([])
            return fut
        self._queue.put_nowait(_Pending(ops, fut, journal))
        return fut

    async def append(self, *events: EventIn) -> list[Event]:
        """Append events to the audit chain (shorthand for ``write(*events)``)."""
        return await self.write(*events)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        stop = False
        while not stop:
            first = await self._queue.get()
            if first is None:
                break
            batch, size = [first], len(first.ops)
            while size < self.batch_max and not self._queue.empty():
                item = self._queue.get_nowait()
                if item is None:
                    stop = True
                    break
                batch.append(item)
                size += len(item.ops)
            # runs of journaled and DuckDB writes, in arrival order
            start = 0
            for i in range(1, len(batch) + 1):
                if i == len(batch) or batch[i].journal != batch[start].journal:
                    await self._commit(loop, batch[start:i])
                    start = i

    async def _commit(self, loop: asyncio.AbstractEventLoop, batch: list[_Pending]) -> None:
        groups = [p.ops for p in batch]
        journaled = batch[0].journal
        try:
            if journaled:
                results = await loop.run_in_executor(
                    self._write_thread, self._journal_commit, groups
                )
            else:
                results = await loop.run_in_executor(self._write_thread, self._duck_commit, groups)
        except Exception as exc:
            if len(batch) == 1:
                self._settle(batch[0], exc=_translate(exc))
                return
            log.warning(
                "group commit of %d writes failed (%s); retrying each alone", len(batch), exc
            )
            for p in batch:  # one bad write must not fail its neighbours
                await self._commit(loop, [p])
            return
        if journaled:
            self._acked = self._journal.last
            self._kick_ingest()
        for p, events in zip(batch, results, strict=True):
            self._settle(p, events)
        committed = [ev for events in results for ev in events]
        if committed:
            for sub in list(self._subs):
                sub.push(committed)

    def _journal_commit(self, groups: Sequence[Sequence[WriteOp]]) -> list[list[Event]]:
        """Writer thread: prepare, append to the journal (durable), queue for DuckDB."""
        prepared = self._writer.prepare(groups, check=True)
        if self._applied == self._journal.last and self._journal.size >= RESET_BYTES:
            self._journal.reset()  # DuckDB holds every record: start the file afresh
        elif self._journal.size >= COMPACT_BYTES:
            # appends happen only on this thread, so nothing is written meanwhile; a
            # record applied during the rewrite is kept needlessly (replay skips it)
            self._journal.compact(self._take())
        number = self._journal.append(prepared.segments)
        with self._unapplied_lock:
            self._unapplied.append(Record(number, prepared.segments))
        self._head.seq, self._head.hash = prepared.head.seq, prepared.head.hash
        return prepared.events

    def _duck_commit(self, groups: Sequence[Sequence[WriteOp]]) -> list[list[Event]]:
        """Writer thread: commit in DuckDB, after (and with) the journaled records before it."""
        prepared = self._writer.prepare(groups)
        with self._duck:
            records = self._take()
            try:
                self._writer.execute(
                    [*(r.segments for r in records), prepared.segments],
                    records[-1].number if records else None,
                )
                self._applied_through(records)
            except Exception:
                if not records:
                    raise
                # a journaled record, not this write, may be what DuckDB refused: they
                # land (or are set aside) on their own, then this write is tried alone
                self._apply_records(records)
                self._writer.execute([prepared.segments])
        self._head.seq, self._head.hash = prepared.head.seq, prepared.head.hash
        return prepared.events

    def _take(self) -> list[Record]:
        with self._unapplied_lock:
            return list(self._unapplied)

    def _applied_through(self, records: list[Record]) -> None:
        if not records:
            return
        with self._unapplied_lock:
            del self._unapplied[: len(records)]
        self._applied = records[-1].number

    def _apply_records(self, records: list[Record]) -> None:
        """Apply journaled records (``_duck`` held), taking them off ``_unapplied``."""
        apply_records(self._writer, self._journal, records, self._applied_through)

    def _ingest(self) -> None:
        """Ingest thread: apply every journaled record DuckDB does not hold yet."""
        with self._duck:
            records = self._take()
            if records:
                self._apply_records(records)

    def _kick_ingest(self, now: bool = False) -> None:
        if now or self._closing or len(self._unapplied) >= APPLY_BACKLOG:
            self._apply_now.set()
        if self._ingesting is None or self._ingesting.done():
            self._ingesting = asyncio.get_running_loop().create_task(
                self._ingest_loop(), name="agency-store-ingest"
            )

    async def _ingest_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while self._applied < self._acked:
            if not self._apply_now.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._apply_now.wait(), APPLY_DELAY)
            self._apply_now.clear()
            try:
                await loop.run_in_executor(self._ingest_thread, self._ingest)
            except Exception:  # the records stay queued and in the journal; try again
                log.exception("applying the journal to DuckDB failed; retrying")
                if self._closing:
                    break  # close tries once more; failing that, the next open replays them
                await asyncio.sleep(0.5)
            self._wake_readers()
        self._wake_readers()

    def _wake_readers(self) -> None:
        event, self._caught_up = self._caught_up, asyncio.Event()
        event.set()

    async def _catch_up(self) -> None:
        """Wait until DuckDB holds every write acknowledged so far (read your writes)."""
        target = self._acked
        if self._applied >= target:
            return
        self._kick_ingest(now=True)
        loop = asyncio.get_running_loop()
        until = loop.time() + CATCH_UP_TIMEOUT
        while self._applied < target:
            left = until - loop.time()
            if left <= 0:
                raise StorageError(
                    f"the database is {target - self._applied} journal record(s) behind "
                    f"after {CATCH_UP_TIMEOUT:.0f} s; see the log"
                )
            try:
                await asyncio.wait_for(self._caught_up.wait(), left)
            except TimeoutError:
                continue

    @staticmethod
    def _settle(
        p: _Pending, events: list[Event] | None = None, exc: BaseException | None = None
    ) -> None:
        if p.future.done():  # the caller gave up waiting; its write still landed (or not)
            return
        if exc is not None:
            p.future.set_exception(exc)
        else:
            p.future.set_result(events or [])

    # --- reads -------------------------------------------------------------------------------

    async def _read(self, fn: Any, *args: Any) -> Any:
        if self._closing:
            raise StoreClosed("the store is closed", details={"path": str(self.path)})
        await self._catch_up()
        loop = asyncio.get_running_loop()

        def on_cursor() -> Any:
            cur = self._cursors.get()
            try:
                return fn(cur, *args)
            finally:
                self._cursors.put(cur)

        return await loop.run_in_executor(self._read_threads, on_cursor)

    async def fetch(self, sql: str, params: Params = None) -> list[dict[str, Any]]:
        """Rows of a trusted (application) query as dicts, JSON columns decoded."""

        def run(cur: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
            try:
                cur.execute(sql, params)
                return decode_rows(cur.description, cur.fetchall())
            except duckdb.Error as exc:
                raise StorageError(f"query failed: {first_line(exc)}") from exc

        rows: list[dict[str, Any]] = await self._read(run)
        return rows

    async def fetch_one(self, sql: str, params: Params = None) -> dict[str, Any] | None:
        rows = await self.fetch(sql, params)
        return rows[0] if rows else None

    async def fetch_df(self, sql: str, params: Params = None) -> pd.DataFrame:
        """A trusted query's result as a DataFrame (JSON columns decoded)."""

        def run(cur: duckdb.DuckDBPyConnection) -> pd.DataFrame:
            try:
                # via Arrow: DuckDB's own .df() trips pandas 3 deprecation warnings
                rel = cur.sql(sql, params=params)
                if rel is None:
                    raise StorageError("fetch_df needs a query that returns rows")
                js = [
                    name for name, t in zip(rel.columns, rel.types, strict=True) if str(t) == "JSON"
                ]
                df: pd.DataFrame = rel.to_arrow_table().to_pandas()
            except duckdb.Error as exc:
                raise StorageError(f"query failed: {first_line(exc)}") from exc
            for col in js:
                df[col] = df[col].map(json.loads, na_action="ignore").astype(object)
            return df

        df: pd.DataFrame = await self._read(run)
        return df

    async def run_user_query(
        self,
        sql: str,
        params: Params = None,
        *,
        row_cap: int | None = None,
        timeout: float | None = None,
    ) -> QueryResult:
        """Run a user's read-only query; ``QueryRefused``, ``QueryFailed`` or ``QueryTimeout``."""
        userquery.check_sql(sql)  # refuse before taking a thread
        cap = self.row_cap if row_cap is None else row_cap
        limit = self.query_timeout if timeout is None else timeout
        result: QueryResult = await self._read(userquery.run, sql, params, cap, limit)
        return result

    async def verify_chain(self) -> ChainReport:
        """Walk the events hash chain; the first missing, unlinked or edited event fails it."""
        report: ChainReport = await self._read(chain.verify)
        return report

    async def chain_heads(self, seqs: list[int]) -> tuple[int, dict[int, str]]:
        """The events table's highest seq and the stored hash at each of ``seqs``."""

        def run(cur: duckdb.DuckDBPyConnection) -> tuple[int, dict[int, str]]:
            return chain.head_seq(cur), chain.hashes_at(cur, seqs)

        heads: tuple[int, dict[int, str]] = await self._read(run)
        return heads

    def subscribe(self, maxsize: int = 10_000) -> EventSubscription:
        """Every event committed from now on, in seq order (see ``EventSubscription``)."""
        sub = EventSubscription(maxsize, self._subs.discard)
        if self._closing:
            sub.close()
        else:
            self._subs.add(sub)
        return sub

    # --- lifecycle ---------------------------------------------------------------------------

    async def close(self) -> None:
        """Commit every queued write, then close; later writes get ``StoreClosed``.

        A caller cancelled while waiting does not cancel the close: it runs to the end.
        """
        if self._closer is None:
            self._closing = True
            self._queue.put_nowait(None)
            self._closer = asyncio.get_running_loop().create_task(
                self._close(), name="agency-store-close"
            )
        await asyncio.shield(self._closer)

    async def _close(self) -> None:
        await self._task
        if self._ingesting is not None:
            self._apply_now.set()
            await self._ingesting
        for sub in list(self._subs):
            sub.close()
        await asyncio.to_thread(self._shutdown)

    def _shutdown(self) -> None:
        self._read_threads.shutdown(wait=True)
        self._write_thread.shutdown(wait=True)
        self._ingest_thread.shutdown(wait=True)
        while not self._cursors.empty():
            self._cursors.get_nowait().close()
        try:
            with self._duck:
                records = self._take()
                if records:
                    self._apply_records(records)
            self._conn.execute("CHECKPOINT")
        finally:
            self._conn.close()
            # the file goes only when DuckDB holds all of it; else the next open replays it
            self._journal.close(remove=self._applied >= self._journal.last)

    async def __aenter__(self) -> Store:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


def apply_records(
    writer: BatchWriter,
    journal: Journal,
    records: list[Record],
    applied: Callable[[list[Record]], None],
) -> None:
    """Apply journaled records: all in one transaction, else one by one.

    A record DuckDB refuses is kept in the journal's rejected file and only its events go
    in (the audit chain must have no gap). ``applied`` is told of each committed run, so a
    failure part-way leaves exactly the records not yet applied.
    """
    try:
        writer.execute([r.segments for r in records], records[-1].number)
    except Exception as exc:
        log.warning(
            "applying %d journal records failed (%s); applying each alone", len(records), exc
        )
    else:
        applied(records)
        return
    for rec in records:
        try:
            writer.execute([rec.segments], rec.number)
        except Exception as one:
            journal.reject(rec, one)
            events = [seg for seg in rec.segments if seg.table == "events"]
            try:
                writer.execute([events], rec.number)
            except Exception:
                log.exception("the events of journal record %d could not be applied", rec.number)
                writer.execute([], rec.number)
        applied([rec])


def _translate(exc: BaseException) -> BaseException:
    if isinstance(exc, AgencyError):
        return exc
    if isinstance(exc, duckdb.ConstraintException):
        return Conflict(f"write refused: {first_line(exc)}")
    if isinstance(exc, duckdb.Error):
        return StorageError(f"write failed: {first_line(exc)}")
    return StorageError(f"write failed: {type(exc).__name__}: {exc}")
