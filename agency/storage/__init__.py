"""DuckDB persistence: the single-writer ``Store``, migrations, and per-table query helpers."""

from agency.storage import chat, events, journal, misc, queries, tasks, workers
from agency.storage.migrate import Migration, MigrationStatus, Migrator, load_migrations
from agency.storage.ops import ChainReport, Delete, Insert, QueryResult, Upsert, WriteOp
from agency.storage.store import Store
from agency.storage.subscribe import EventSubscription

__all__ = [
    "ChainReport",
    "Delete",
    "EventSubscription",
    "Insert",
    "Migration",
    "MigrationStatus",
    "Migrator",
    "QueryResult",
    "Store",
    "Upsert",
    "WriteOp",
    "chat",
    "events",
    "journal",
    "load_migrations",
    "misc",
    "queries",
    "tasks",
    "workers",
]
