"""DuckDB persistence: the single-writer ``Store``, migrations, and one repository per table
family, gathered in ``Repositories``. This package is the only place with SQL text."""

from agency.storage import journal
from agency.storage.agent_runs import AgentRunRepository
from agency.storage.alerts import AlertRepository
from agency.storage.chat import ChatRepository
from agency.storage.events import EventRepository
from agency.storage.kpis import KpiRepository
from agency.storage.migrate import Migration, MigrationStatus, Migrator, load_migrations
from agency.storage.ops import ChainReport, Delete, Insert, QueryResult, Upsert, WriteOp
from agency.storage.queries import QueryRepository
from agency.storage.repos import Repositories
from agency.storage.runbooks import RunbookRunRepository
from agency.storage.schedules import ScheduleRepository
from agency.storage.store import Store
from agency.storage.subscribe import EventSubscription
from agency.storage.tasks import TaskPage, TaskQuery, TaskRepository
from agency.storage.tokens import TokenRepository
from agency.storage.waivers import WaiverRepository
from agency.storage.workers import WorkerRepository
from agency.storage.workflows import WorkflowRepository

__all__ = [
    "AgentRunRepository",
    "AlertRepository",
    "ChainReport",
    "ChatRepository",
    "Delete",
    "EventRepository",
    "EventSubscription",
    "Insert",
    "KpiRepository",
    "Migration",
    "MigrationStatus",
    "Migrator",
    "QueryRepository",
    "QueryResult",
    "Repositories",
    "RunbookRunRepository",
    "ScheduleRepository",
    "Store",
    "TaskPage",
    "TaskQuery",
    "TaskRepository",
    "TokenRepository",
    "Upsert",
    "WaiverRepository",
    "WorkerRepository",
    "WorkflowRepository",
    "WriteOp",
    "journal",
    "load_migrations",
]
