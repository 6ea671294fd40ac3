"""``agency query``: save (create, then revisions), list, show, run with -p, sql, delete; --json."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agency.cli import app
from agency.cli.query import parse_params
from agency.testing import ADMIN, Stack, serve
from tests.api.planes import LIMITS

runner = CliRunner()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with serve(tmp_path_factory.mktemp("cp"), **LIMITS) as s:
        yield s


def agency(stack: Stack, *args: str, token: str = ADMIN) -> tuple[int, str, str]:
    result = runner.invoke(app, [*args, "--url", stack.url, "--token", token])
    return result.exit_code, result.stdout, result.stderr


def test_parse_params() -> None:
    assert parse_params(["n=3", "kind=shell", "flag=true", 's="3"', "eq=a=b"]) == {
        "n": 3,
        "kind": "shell",
        "flag": True,
        "s": "3",
        "eq": "a=b",
    }


def test_save_list_show_run_sql_delete(stack: Stack, tmp_path: Path) -> None:
    code, out, _ = agency(
        stack,
        "query",
        "save",
        "cli_q",
        "--sql",
        "SELECT $n * 2 AS doubled",
        "-p",
        "n=1",
        "-d",
        "doubles n",
        "--json",
    )
    assert code == 0, out
    created = json.loads(out)
    assert created["revision"] == 1 and created["parameters"] == {"n": 1}
    sql_file = tmp_path / "q.sql"
    sql_file.write_text("SELECT $n * 3 AS tripled")
    code, out, _ = agency(stack, "query", "save", "cli_q", "--file", str(sql_file))
    assert code == 0 and out.strip() == f"cli_q revision 2 ({created['id']})"
    code, out, _ = agency(stack, "query", "list")
    assert code == 0 and "cli_q" in out
    code, out, _ = agency(stack, "query", "list", "--json")
    assert "cli_q" in [q["name"] for q in json.loads(out)]
    code, out, _ = agency(stack, "query", "run", "cli_q", "-p", "n=5", "--json")
    assert code == 0
    result = json.loads(out)
    assert (
        result["columns"] == ["tripled"]
        and result["rows"] == [[15]]
        and result["truncated"] is False
    )
    code, out, err = agency(stack, "query", "run", created["id"])
    assert code == 0 and "tripled" in out and "3" in out and "1 row(s)" in err
    code, out, _ = agency(stack, "query", "show", "cli_q", "--json")
    shown = json.loads(out)
    assert [r["revision"] for r in shown["revisions"]] == [1, 2] and len(shown["runs"]) == 2
    code, out, _ = agency(stack, "query", "show", "cli_q")
    assert code == 0 and "SELECT $n * 3 AS tripled" in out and "revisions:" in out
    code, out, err = agency(stack, "query", "sql", "SELECT * FROM range(300)")
    assert code == 0 and "truncated" in err
    code, out, err = agency(stack, "query", "sql", "DROP TABLE tasks")
    assert code == 1 and "query_refused" in err
    code, out, err = agency(stack, "query", "run", "missing")
    assert code == 1 and "not_found" in err
    code, out, err = agency(stack, "query", "run", "cli_q", "-p", "oops")
    assert code == 2 and "name=value" in err
    code, out, err = agency(
        stack, "query", "save", "x", "--sql", "SELECT 1", "--file", str(sql_file)
    )
    assert code == 2
    code, out, _ = agency(stack, "query", "delete", "cli_q", "--json")
    assert code == 0 and json.loads(out) == {"deleted": "cli_q"}
    code, _, err = agency(stack, "query", "show", "cli_q")
    assert code == 1 and "not_found" in err
