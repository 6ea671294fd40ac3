"""The placeholder scanner: each category found, and not found where it must not be."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agency.errors import BadRequest
from agency.governance import Category, Severity, scan_paths, scan_source

from .markers import FM, NIE, TD, P


def cats(name: str, text: str) -> list[tuple[int, Category]]:
    return [(f.line, f.category) for f in scan_source(name, text)]


# --- the placeholder marker -------------------------------------------------------------------


def test_marker_in_comment_code_and_value_is_critical() -> None:
    src = f"x = 1  # {P}: real value later\nkey = '{P}'\nvalue = {P}\nMY_{P}_URL = 'http://x'\n"
    found = scan_source("a.py", src)
    assert [(f.line, f.category) for f in found] == [
        (1, Category.MARKER),
        (2, Category.MARKER),
        (3, Category.MARKER),
    ]
    assert all(f.severity is Severity.CRITICAL for f in found)


def test_marker_in_docstring_or_sentence_is_a_mention() -> None:
    src = f'"""Module that replaces the {P} markers."""\n\ndef f() -> str:\n    """Swap {P}."""\n    return "fill the {P} in"\n'
    found = scan_source("a.py", src)
    assert {f.category for f in found} == {Category.MENTION}
    assert all(f.severity is Severity.INFO for f in found)


def test_no_marker_lowercase_or_longer_word() -> None:
    src = f"w = TextInput(placeholder='Search')\n# {P}S are counted elsewhere\nx = 'my{P}'\n"
    assert cats("a.py", src) == []


def test_marker_in_text_files() -> None:
    assert cats("c.yaml", f"api_key: {P}\nother: ok\n") == [(1, Category.MARKER)]
    assert cats("c.json", json.dumps({"k": P})) == [(1, Category.MARKER)]
    assert cats("r.sh", f"echo ok\nURL={P}\n") == [(2, Category.MARKER)]
    assert cats("doc.md", f"Intro\n\nThe token is {P} for now.\n") == [(3, Category.MARKER)]
    # quoted in a code span in prose: a mention
    assert cats("doc.md", f"The scanner finds `{P}` markers.\n") == [(1, Category.MENTION)]
    assert cats("c.toml", 'name = "real"\n') == []


# --- to-do markers ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "comment, category",
    [
        (f"# {TD}(#12): retry on 503", Category.TODO_TRACKED),
        (f"# {FM} see PROJ-881", Category.TODO_TRACKED),
        (f"# {TD}: handle the empty queue before dispatching", Category.TODO_TRACKED),
        (f"# {TD}", Category.TODO_BARE),
        (f"# {FM}: later", Category.TODO_BARE),
        (f"# {TD}(alice): fix", Category.TODO_BARE),
    ],
)
def test_todo_tracked_or_bare(comment: str, category: Category) -> None:
    found = scan_source("a.py", f"x = 1\n{comment}\n")
    assert [(f.line, f.category, f.severity) for f in found] == [(2, category, Severity.WARNING)]


def test_todo_in_docstring_counts_but_not_in_data_strings() -> None:
    src = f'def f() -> int:\n    """{TD}: validate the input range first."""\n    return len("{TD}")\n'
    assert cats("a.py", src) == [(2, Category.TODO_TRACKED)]
    assert cats("a.py", "# ATODO and TODOS are words\n") == []


def test_todo_in_js_and_markdown() -> None:
    assert cats("a.ts", f"// {TD}\nconst x = 1;\n") == [(1, Category.TODO_BARE)]
    assert cats("a.md", f"- `{TD}` markers are warnings\n") == []


# --- stub bodies --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body", ["pass", "...", f"raise {NIE}", f"raise {NIE}('later')", '"""Doc."""\n    pass']
)
def test_stub_bodies_found(body: str) -> None:
    found = scan_source("a.py", f"import os\n\ndef work(x: int) -> int:\n    {body}\n")
    assert [(f.line, f.category, f.severity) for f in found] == [
        (3, Category.INCOMPLETE, Severity.CRITICAL)
    ]
    assert "work()" in found[0].message


def test_async_and_method_stubs_found() -> None:
    src = f"class A:\n    async def run(self) -> None:\n        raise {NIE}()\n\n    def b(self):\n        pass\n"
    assert cats("a.py", src) == [(2, Category.INCOMPLETE), (5, Category.INCOMPLETE)]


def test_allowed_stubs_not_found() -> None:
    src = f'''
import abc
import typing
from typing import Protocol, overload, TYPE_CHECKING

class Base(abc.ABC):
    @abc.abstractmethod
    def run(self) -> None:
        raise {NIE}

    @property
    @abc.abstractmethod
    def name(self) -> str: ...

class Reader(Protocol):
    def read(self) -> bytes: ...

class Gen(typing.Protocol[int]):
    def get(self) -> int: ...

@overload
def f(x: int) -> int: ...
@overload
def f(x: str) -> str: ...
def f(x):
    return x

def callback() -> None:
    """Typer group callback: the docstring is the help text."""

def real() -> int:
    if True:
        pass
    return 1

if TYPE_CHECKING:
    def typed() -> int: ...

class Error(Exception):
    pass
'''
    assert cats("a.py", src) == []
    assert cats("a.pyi", "def f() -> int: ...\n") == []


def test_js_not_implemented() -> None:
    assert cats("a.js", "function f() {\n  throw new Error('Not implemented');\n}\n") == [
        (2, Category.INCOMPLETE)
    ]
    assert cats("a.js", "function f() {\n  throw new Error('bad input');\n}\n") == []


def test_unparsable_python_falls_back_to_text() -> None:
    found = cats("a.py", f"def broken(:\n    x = {P}\n")
    assert (2, Category.MARKER) in found and (1, Category.UNPARSABLE) in found


def test_notebook_cells(tmp_path: Path) -> None:
    nb = {
        "cells": [
            {"cell_type": "markdown", "source": ["# Title\n", f"`{P}` is quoted\n"]},
            {"cell_type": "code", "source": ["%matplotlib inline\n", "def f():\n", "    pass\n"]},
            {"cell_type": "code", "source": f"x = 1\ny = '{P}'\n"},
        ],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path = tmp_path / "run.ipynb"
    path.write_text(json.dumps(nb))
    found = scan_paths([path]).findings
    assert [(f.cell, f.line, f.category) for f in found] == [
        (1, 2, Category.MENTION),
        (2, 2, Category.INCOMPLETE),
        (3, 2, Category.MARKER),
    ]
    assert found[2].location.endswith("run.ipynb:cell 3:2")


# --- walking files ------------------------------------------------------------------------------


def test_walk_skips_binary_vcs_venv_and_ignored(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "a.py").write_text(f"# {P}\n")
    (tmp_path / "pkg" / "clean.py").write_text("x = 1\n")
    (tmp_path / "pkg" / "blob.dat").write_bytes(b"\0" + P.encode())
    (tmp_path / "pkg" / "img.py").write_bytes(b"\0\0" + P.encode())
    for skipped in (".git", ".venv", "node_modules", "fixtures"):
        (tmp_path / skipped).mkdir()
        (tmp_path / skipped / "x.py").write_text(f"# {P}\n")
    (tmp_path / "notes.txt").write_bytes(P.encode() + b" \xff\xfe")  # not UTF-8
    report = scan_paths([tmp_path], ignore=["fixtures"])
    assert [f.path for f in report.findings] == [(tmp_path / "pkg" / "a.py").as_posix()]
    assert report.files_scanned == 2
    assert sorted(Path(p).name for p in report.skipped) == ["img.py", "notes.txt"]
    # a glob on the relative path, and an explicitly named file of any extension
    assert scan_paths([tmp_path], ignore=["pkg/*", "fixtures/*"]).findings == []
    (tmp_path / "odd.conf").write_text(f"k={P}\n")
    assert len(scan_paths([tmp_path / "odd.conf"]).findings) == 1


def test_missing_path_is_bad_request(tmp_path: Path) -> None:
    with pytest.raises(BadRequest, match="no such file"):
        scan_paths([tmp_path / "nope"])


def test_the_project_sources_pass_their_own_gate() -> None:
    root = Path(__file__).resolve().parents[2]
    report = scan_paths([root / "agency", root / "dashboards"])
    assert report.critical == [], [f.location for f in report.critical]
    assert report.files_scanned > 20
