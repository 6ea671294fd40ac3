"""Numbered SQL migrations with an up and a down section, recorded in ``schema_migrations``.

A migration file is ``NNNN_name.sql``; the lines after ``-- up`` create, the lines after
``-- down`` undo. Each migration runs in one transaction with its bookkeeping row, so a
failure leaves both the schema and the recorded version as they were.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb

from agency.errors import MigrationError
from agency.storage.connection import first_line

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_BOOTSTRAP = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY,
    name VARCHAR NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL
)"""


@dataclass(frozen=True)
class Migration:
    """One migration file, split into its two sections."""

    version: int
    name: str
    up: str
    down: str


@dataclass(frozen=True)
class MigrationStatus:
    """A known migration and whether (and when) it is applied."""

    version: int
    name: str
    applied_at: datetime | None


def load_migrations(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """Every ``NNNN_name.sql`` in ``directory``, by version; a malformed file is an error."""
    found: list[Migration] = []
    for path in sorted(Path(directory).glob("*.sql")):
        m = _NAME.match(path.name)
        if m is None:
            raise MigrationError(f"{path.name}: migration files are named NNNN_name.sql")
        up, down = _split(path)
        found.append(Migration(int(m.group(1)), m.group(2), up, down))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"duplicate migration versions in {directory}")
    return found


def _split(path: Path) -> tuple[str, str]:
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in path.read_text().splitlines():
        marker = line.strip().lower()
        if marker in ("-- up", "-- down"):
            current = sections.setdefault(marker[3:], [])
        elif current is not None:
            current.append(line)
    if "up" not in sections or "down" not in sections:
        raise MigrationError(f"{path.name}: needs both a '-- up' and a '-- down' section")
    return "\n".join(sections["up"]).strip(), "\n".join(sections["down"]).strip()


class Migrator:
    """Applies and reverts migrations on an open connection (not thread-safe: one caller)."""

    def __init__(self, conn: duckdb.DuckDBPyConnection, directory: Path | None = None) -> None:
        self.conn = conn
        self.migrations = load_migrations(directory or MIGRATIONS_DIR)
        conn.execute(_BOOTSTRAP)

    def applied(self) -> dict[int, datetime]:
        rows = self.conn.execute("SELECT version, applied_at FROM schema_migrations").fetchall()
        return {int(v): at for v, at in rows}

    @property
    def version(self) -> int:
        """The highest applied version, 0 on an empty database."""
        return max(self.applied(), default=0)

    def status(self) -> list[MigrationStatus]:
        done = self.applied()
        return [MigrationStatus(m.version, m.name, done.get(m.version)) for m in self.migrations]

    def migrate(self, to: int | None = None) -> list[int]:
        """Apply every pending migration up to ``to`` (default: all); returns the versions."""
        done = self.applied()
        ran: list[int] = []
        for m in self.migrations:
            if m.version in done or (to is not None and m.version > to):
                continue
            self._run(m, m.up, "up")
            ran.append(m.version)
        return ran

    def rollback(self, to: int) -> list[int]:
        """Revert applied migrations above ``to``, newest first; returns the versions."""
        if to < 0:
            raise MigrationError("rollback target must be 0 or a migration version")
        done = self.applied()
        ran: list[int] = []
        for m in sorted(self.migrations, key=lambda m: m.version, reverse=True):
            if m.version in done and m.version > to:
                self._run(m, m.down, "down")
                ran.append(m.version)
        unknown = [v for v in done if v > to and v not in {m.version for m in self.migrations}]
        if unknown:
            raise MigrationError(
                f"applied versions {unknown} have no migration file to revert them"
            )
        return ran

    def _run(self, m: Migration, sql: str, direction: str) -> None:
        self.conn.execute("BEGIN TRANSACTION")
        try:
            if sql:
                self.conn.execute(sql)
            if direction == "up":
                self.conn.execute(
                    "INSERT INTO schema_migrations VALUES (?, ?, now())", [m.version, m.name]
                )
            else:
                self.conn.execute("DELETE FROM schema_migrations WHERE version = ?", [m.version])
            self.conn.execute("COMMIT")
        except duckdb.Error as exc:
            self.conn.execute("ROLLBACK")
            raise MigrationError(
                f"migration {m.version:04d}_{m.name} ({direction}) failed and was rolled back: "
                f"{first_line(exc)}",
                details={"version": m.version, "direction": direction},
            ) from exc
