"""Opening the DuckDB file: one locked-down configuration, and DuckDB errors translated.

Every connection agency opens has external access off (no files, network, extension
installs from SQL), Python replacement scans off (SQL cannot read the caller's variables),
UTC as its time zone, and its configuration locked, so no statement can turn any of that
back on. The settings are per database instance, so they protect the writer connection and
every cursor made from it, including the one that runs user SQL.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from agency.errors import DatabaseCorrupt, DatabaseLocked, StorageError

_CONFIG: dict[str, str | bool | int | float | list[str]] = {
    "enable_external_access": False,
    "python_enable_replacements": False,
}


def connect(path: Path, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open ``path`` (creating its parent directory) with the locked-down configuration.

    Raises ``DatabaseLocked`` when another process holds the file, ``DatabaseCorrupt`` when
    it is not a DuckDB database, ``StorageError`` for anything else.
    """
    path = Path(path)
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    try:
        conn = duckdb.connect(str(path), read_only=read_only, config=_CONFIG)
    except duckdb.Error as exc:
        raise translate_open_error(path, exc) from exc
    try:
        # ICU is built in but cannot be autoloaded once external access is off, so the
        # time zone is set on the connection before the configuration is locked.
        conn.execute("SET TimeZone = 'UTC'")
        conn.execute("SET lock_configuration = true")
    except duckdb.Error as exc:
        conn.close()
        raise StorageError(f"cannot configure {path}: {first_line(exc)}") from exc
    return conn


def translate_open_error(path: Path, exc: duckdb.Error) -> StorageError:
    """Map DuckDB's open errors to the agency tree, with a message that says what to do."""
    text = str(exc)
    if "lock" in text.lower():
        return DatabaseLocked(
            f"{path} is held by another process (DuckDB allows one writer per file); "
            "stop it, or go through the control plane's API",
            details={"path": str(path), "duckdb": first_line(exc)},
        )
    if (
        "not a valid DuckDB database" in text
        or "database file" in text.lower()
        or isinstance(exc, duckdb.SerializationException)
    ):
        return DatabaseCorrupt(
            f"{path} is not a readable DuckDB database: {first_line(exc)}",
            details={"path": str(path)},
        )
    return StorageError(f"cannot open {path}: {first_line(exc)}", details={"path": str(path)})


def first_line(exc: BaseException) -> str:
    """DuckDB messages carry a caret diagram after the first line; keep the sentence."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
