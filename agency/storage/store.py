"""``Store``: the single owner of the DuckDB file.

One writer task drains a queue of callers' writes and hands each batch to the writer
thread, which commits it in one transaction (group commit); every caller's future resolves
only after that COMMIT. Reads run on a small pool of cursors, each on its own thread, never
on the event loop.
"""

from __future__ import annotations

import asyncio
import json
import logging
import queue
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
from agency.storage.codec import decode_rows, load_columns
from agency.storage.connection import connect, first_line
from agency.storage.migrate import Migrator
from agency.storage.ops import ChainReport, QueryResult, WriteOp
from agency.storage.subscribe import EventSubscription
from agency.storage.writer import BatchWriter, ChainHead

log = logging.getLogger(__name__)
Params = list[Any] | dict[str, Any] | None
READERS = 4


@dataclass
class _Pending:
    ops: tuple[WriteOp, ...]
    future: asyncio.Future[list[Event]]


class Store:
    """The DuckDB file's owner: group-committed writes, off-loop reads, user SQL, audit chain."""

    def __init__(self, path: Path, conn: duckdb.DuckDBPyConnection, head: ChainHead, *,
                 batch_max: int, row_cap: int, query_timeout: float) -> None:
        self.path = path
        self.batch_max = batch_max
        self.row_cap = row_cap
        self.query_timeout = query_timeout
        self._conn = conn
        self._head = head
        self._writer = BatchWriter(conn, load_columns(conn), head)
        self._write_thread = ThreadPoolExecutor(1, thread_name_prefix="agency-writer")
        self._read_threads = ThreadPoolExecutor(READERS, thread_name_prefix="agency-read")
        # cursors are made up front, before the writer thread starts using the connection
        self._cursors: queue.Queue[duckdb.DuckDBPyConnection] = queue.Queue()
        for _ in range(READERS):
            self._cursors.put(conn.cursor())
        self._queue: asyncio.Queue[_Pending | None] = asyncio.Queue()
        self._subs: set[EventSubscription] = set()
        self._closing = False
        self._task = asyncio.get_running_loop().create_task(self._run(), name="agency-store-writer")

    @classmethod
    async def open(cls, path: Path, *, batch_max: int = 2000, migrate: bool = True,
                   migrations_dir: Path | None = None, row_cap: int = 10_000,
                   query_timeout: float = 5.0) -> Store:
        """Open (creating) the file, apply pending migrations, start the writer."""
        path = Path(path)

        def prepare() -> tuple[duckdb.DuckDBPyConnection, ChainHead]:
            conn = connect(path)
            try:
                if migrate:
                    Migrator(conn, migrations_dir).migrate()
                head = ChainHead()
                has_events = conn.execute(
                    "SELECT count(*) FROM information_schema.tables WHERE table_name = 'events'"
                ).fetchone()
                if has_events and has_events[0]:
                    last = conn.execute("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1").fetchone()
                    if last:
                        head = ChainHead(int(last[0]), str(last[1]))
            except BaseException:
                conn.close()
                raise
            return conn, head

        conn, head = await asyncio.to_thread(prepare)
        return cls(path, conn, head, batch_max=batch_max, row_cap=row_cap, query_timeout=query_timeout)

    @classmethod
    async def from_settings(cls, settings: Settings, *, migrate: bool = True) -> Store:
        """Open ``settings.database_path`` with the batch, row-cap and timeout settings."""
        return await cls.open(settings.database_path, batch_max=settings.write_batch_max, migrate=migrate,
                              row_cap=settings.query_row_cap, query_timeout=settings.query_timeout)

    @property
    def last_seq(self) -> int:
        """Sequence number of the last committed event (0 when there is none)."""
        return self._head.seq

    @property
    def closed(self) -> bool:
        return self._closing

    # --- writes ------------------------------------------------------------------------------

    async def write(self, *ops: WriteOp) -> list[Event]:
        """Commit ``ops`` together in one transaction; returns the appended events in order."""
        if self._closing:
            raise StoreClosed("the store is closed", details={"path": str(self.path)})
        if not ops:
            return []
        fut: asyncio.Future[list[Event]] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Pending(ops, fut))
        return await fut

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
            await self._commit(loop, batch)

    async def _commit(self, loop: asyncio.AbstractEventLoop, batch: list[_Pending]) -> None:
        try:
            results = await loop.run_in_executor(self._write_thread, self._writer.apply, [p.ops for p in batch])
        except Exception as exc:
            if len(batch) == 1:
                self._settle(batch[0], exc=_translate(exc))
                return
            log.warning("group commit of %d writes failed (%s); retrying each alone", len(batch), exc)
            for p in batch:  # one bad write must not fail its neighbours
                await self._commit(loop, [p])
            return
        for p, events in zip(batch, results, strict=True):
            self._settle(p, events)
        committed = [ev for events in results for ev in events]
        if committed:
            for sub in list(self._subs):
                sub.push(committed)

    @staticmethod
    def _settle(p: _Pending, events: list[Event] | None = None, exc: BaseException | None = None) -> None:
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
                js = [name for name, t in zip(rel.columns, rel.types, strict=True) if str(t) == "JSON"]
                df = rel.to_arrow_table().to_pandas()
            except duckdb.Error as exc:
                raise StorageError(f"query failed: {first_line(exc)}") from exc
            for col in js:
                df[col] = df[col].map(json.loads, na_action="ignore").astype(object)
            return df

        df: pd.DataFrame = await self._read(run)
        return df

    async def run_user_query(self, sql: str, params: Params = None, *, row_cap: int | None = None,
                             timeout: float | None = None) -> QueryResult:
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
        """Commit every queued write, then close; later writes get ``StoreClosed``."""
        if self._closing:
            await asyncio.shield(self._task)
            return
        self._closing = True
        self._queue.put_nowait(None)
        await asyncio.shield(self._task)
        for sub in list(self._subs):
            sub.close()
        await asyncio.to_thread(self._shutdown)

    def _shutdown(self) -> None:
        self._read_threads.shutdown(wait=True)
        self._write_thread.shutdown(wait=True)
        while not self._cursors.empty():
            self._cursors.get_nowait().close()
        try:
            self._conn.execute("CHECKPOINT")
        finally:
            self._conn.close()

    async def __aenter__(self) -> Store:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


def _translate(exc: BaseException) -> BaseException:
    if isinstance(exc, AgencyError):
        return exc
    if isinstance(exc, duckdb.ConstraintException):
        return Conflict(f"write refused: {first_line(exc)}")
    if isinstance(exc, duckdb.Error):
        return StorageError(f"write failed: {first_line(exc)}")
    return StorageError(f"write failed: {type(exc).__name__}: {exc}")
