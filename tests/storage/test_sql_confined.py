"""SQL text lives in ``agency/storage`` only: every other module asks a repository.

Every string literal of ``agency/`` (outside ``agency/storage``) and ``dashboards/`` sources,
docstrings and f-string pieces included, is checked for SQL statement shapes, in any case.
The only exceptions are examples shown to people, listed one by one below; an exception that
no longer occurs fails the test too, so the list cannot outlive its reason.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCANNED = [ROOT / "agency", ROOT / "dashboards"]
STORAGE = ROOT / "agency" / "storage"

STATEMENT = re.compile(
    r"""
    \bSELECT\s+(?:\d|\*|DISTINCT\b|[\w".()*]+(?:\s+AS\s+\w+)?\s*(?:,|\bFROM\b))
    | \bINSERT\s+(?:OR\s+\w+\s+)?INTO\b
    | \bUPDATE\s+[\w".]+\s+SET\b
    | \bDELETE\s+FROM\b
    | \b(?:CREATE|DROP|ALTER)\s+(?:OR\s+REPLACE\s+)?(?:TEMP(?:ORARY)?\s+)?
      (?:TABLE|VIEW|INDEX|SEQUENCE|SCHEMA|MACRO)\b
    | \bBEGIN\s+TRANSACTION\b
    | \bWITH\s+\w+\s+AS\s*\(\s*SELECT\b
    """,
    re.IGNORECASE | re.VERBOSE,
)

#: examples of SQL a person types, shown in help texts: (file, exact literal)
EXAMPLES = {
    (
        "agency/cli/query.py",
        'One read-only statement, e.g. "SELECT state, count(*) FROM tasks GROUP BY 1".',
    ),
    # the Queries page's editor starts with a query to run or change
    (
        "dashboards/pages/queries.py",
        "select state, count(*) as n from tasks group by state order by n desc",
    ),
}


def _literals(tree: ast.AST) -> list[tuple[int, str]]:
    """Every string literal with its line; an f-string's constant pieces joined with ``x``."""
    found: list[tuple[int, str]] = []
    inside_fstrings: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            pieces = []
            for part in node.values:
                inside_fstrings.add(id(part))
                pieces.append(part.value if isinstance(part, ast.Constant) else "x")
            found.append((node.lineno, "".join(str(p) for p in pieces)))
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in inside_fstrings
        ):
            found.append((node.lineno, node.value))
    return found


def _sources() -> list[Path]:
    return sorted(
        path
        for base in SCANNED
        for path in base.rglob("*.py")
        if STORAGE not in path.parents and "__pycache__" not in path.parts
    )


def test_no_sql_outside_storage() -> None:
    offenders: list[str] = []
    examples_seen: set[tuple[str, str]] = set()
    for path in _sources():
        rel = path.relative_to(ROOT).as_posix()
        for line, text in _literals(ast.parse(path.read_text(), filename=rel)):
            if not STATEMENT.search(text):
                continue
            if (rel, text) in EXAMPLES:
                examples_seen.add((rel, text))
                continue
            offenders.append(f"{rel}:{line}: {text[:100]!r}")
    assert not offenders, "SQL outside agency/storage (ask a repository):\n" + "\n".join(offenders)
    assert examples_seen == EXAMPLES, f"listed examples not found: {EXAMPLES - examples_seen}"


def test_the_check_catches_sql() -> None:
    caught = [
        "SELECT * FROM tasks",
        "select id from alerts where id = ?",
        "SELECT 1 AS ok",
        "SELECT count(*) AS n FROM tasks",
        'SELECT "offset", data FROM task_output',
        "INSERT INTO tasks VALUES (?)",
        "UPDATE tasks SET state = ?",
        "DELETE FROM waivers",
        "CREATE TABLE x (id INT)",
        "create or replace view v as select 1",
        "BEGIN TRANSACTION READ ONLY",
        "WITH t AS (SELECT 1) SELECT * FROM t",
    ]
    assert [s for s in caught if not STATEMENT.search(s)] == []
    prose = [
        "only SELECT queries are allowed, not DELETE",
        "select the tasks to cancel",
        "the dashboard's data functions select from the client's answers",
        "/sql <select>               a read-only query over the control plane's tables",
        "update the alert from open to acknowledged",
    ]
    assert [s for s in prose if STATEMENT.search(s)] == []
