"""Python sources: markers through the tokenizer, stub bodies through the AST.

Where the placeholder marker counts as critical in Python: in a comment, in code (a name
that is exactly the marker), or in a string value without spaces (``key = "<marker>"``).
In a docstring or a sentence-like string (one with whitespace) it is a quotation: a
``mention`` (info). To-do markers count in comments and docstrings.

A stub is a function whose body, after an optional docstring, is only ``pass``, ``...``,
``raise NotImplementedError`` (or ``NotImplemented``). Allowed: ``@abstractmethod`` (and
its abstract-property kin), ``@overload``, members of a ``Protocol`` class, anything under
``if TYPE_CHECKING:``, and ``.pyi`` files. A docstring-only body is not a stub (a typer
callback, a documented no-op).
"""

from __future__ import annotations

import ast
import io
import tokenize

from agency.governance.findings import Category, Finding
from agency.governance.markers import (
    MARKER,
    MARKER_RE,
    mention_finding,
    placeholder_finding,
    scan_text_lines,
    todo_finding,
)

ALLOWED_DECORATORS = frozenset(
    {
        "abstractmethod",
        "abstractproperty",
        "abstractclassmethod",
        "abstractstaticmethod",
        "overload",
    }
)
STRING_TOKENS = frozenset(
    {tokenize.STRING}
    | ({tokenize.FSTRING_MIDDLE} if hasattr(tokenize, "FSTRING_MIDDLE") else set())
)


def _name(node: ast.expr) -> str:
    """The last dotted name of a decorator, base or raised exception (``abc.x`` -> ``x``)."""
    if isinstance(node, ast.Call):
        node = node.func
    if isinstance(node, ast.Subscript):
        node = node.value
    if isinstance(node, ast.Attribute):
        return node.attr
    return node.id if isinstance(node, ast.Name) else ""


def _stub_kind(body: list[ast.stmt]) -> str | None:
    if (
        body
        and isinstance(body[0], ast.Expr)
        and isinstance(body[0].value, ast.Constant)
        and isinstance(body[0].value.value, str)
    ):
        body = body[1:]  # the docstring
    if len(body) != 1:
        return None
    stmt = body[0]
    if isinstance(stmt, ast.Pass):
        return "only `pass`"
    if (
        isinstance(stmt, ast.Expr)
        and isinstance(stmt.value, ast.Constant)
        and stmt.value.value is Ellipsis
    ):
        return "only `...`"
    if (
        isinstance(stmt, ast.Raise)
        and stmt.exc is not None
        and _name(stmt.exc) in ("NotImplementedError", "NotImplemented")
    ):
        return "only raises NotImplementedError"
    return None


class _StubFinder(ast.NodeVisitor):
    def __init__(self, path: str, cell: int | None, first_line: int) -> None:
        self.path, self.cell, self.first_line = path, cell, first_line
        self.findings: list[Finding] = []
        self._protocol = [False]

    def visit_If(self, node: ast.If) -> None:
        if _name(node.test) == "TYPE_CHECKING":
            for stmt in node.orelse:
                self.visit(stmt)
            return
        self.generic_visit(node)

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self._protocol.append(any(_name(b) == "Protocol" for b in node.bases))
        self.generic_visit(node)
        self._protocol.pop()

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        allowed = self._protocol[-1] or any(
            _name(d) in ALLOWED_DECORATORS for d in node.decorator_list
        )
        kind = None if allowed else _stub_kind(node.body)
        if kind is not None:
            line = self.first_line + node.lineno - 1
            self.findings.append(
                Finding.of(
                    self.path,
                    line,
                    Category.INCOMPLETE,
                    f"function {node.name}() is a stub: {kind}",
                    f"def {node.name}(...)",
                    self.cell,
                )
            )
        self._protocol.append(False)  # a nested function is not a Protocol member
        self.generic_visit(node)
        self._protocol.pop()

    visit_FunctionDef = _function
    visit_AsyncFunctionDef = _function


def _docstring_lines(tree: ast.AST) -> set[int]:
    """First lines of bare string statements: docstrings and other prose blocks."""
    return {
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    }


def scan_python(
    path: str, source: str, *, cell: int | None = None, stubs: bool = True
) -> list[Finding]:
    """Every finding in one Python source (a file, or a notebook cell when ``cell`` is set)."""
    try:
        tree = ast.parse(source)
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (SyntaxError, tokenize.TokenError, ValueError) as exc:
        line = getattr(exc, "lineno", None) or 1
        found = scan_text_lines(path, source, prose=False, cell=cell)
        return [
            *found,
            Finding.of(
                path,
                line,
                Category.UNPARSABLE,
                f"does not parse ({type(exc).__name__}); scanned as text",
                cell=cell,
            ),
        ]
    prose_starts = _docstring_lines(tree)
    findings: list[Finding] = []
    for tok in tokens:
        line_no, text = tok.start[0], tok.string
        if tok.type == tokenize.COMMENT:
            if MARKER_RE.search(text):
                findings.append(placeholder_finding(path, line_no, text, cell=cell))
            todo = todo_finding(path, line_no, text, cell=cell)
            if todo is not None:
                findings.append(todo)
        elif tok.type == tokenize.NAME and text == MARKER:
            findings.append(placeholder_finding(path, line_no, tok.line, cell=cell))
        elif tok.type in STRING_TOKENS:
            docstring = line_no in prose_starts
            for offset, piece in enumerate(text.splitlines()):
                if MARKER_RE.search(piece):
                    prose = docstring or any(c.isspace() for c in text)
                    make = mention_finding if prose else placeholder_finding
                    findings.append(make(path, line_no + offset, piece, cell=cell))
                todo = todo_finding(path, line_no + offset, piece, cell=cell) if docstring else None
                if todo is not None:
                    findings.append(todo)
    if stubs:
        finder = _StubFinder(path, cell, 1)
        finder.visit(tree)
        findings.extend(finder.findings)
    return sorted(findings, key=lambda f: (f.line, f.category.value))
