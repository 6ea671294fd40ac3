"""The marker tokens and the line-level rules shared by every file type.

The tokens are assembled from halves so that this module, which must name them, does not
itself contain them: ``agency lint agency`` runs on this very file.
"""

from __future__ import annotations

import re

from agency.governance.findings import Category, Finding

MARKER = "PLACE" + "HOLDER"
TODO_TOKENS = ("TO" + "DO", "FIX" + "ME")

# Upper case only, and bounded by anything that is not a letter or digit, so that
# `MY_<marker>_VALUE` counts but the lower-case word (an HTML attribute, a widget option)
# and longer words do not.
MARKER_RE = re.compile(rf"(?<![A-Za-z0-9]){MARKER}(?![A-Za-z0-9])")
TODO_RE = re.compile(
    rf"(?<![A-Za-z0-9])({'|'.join(TODO_TOKENS)})(?![A-Za-z0-9])(?:\(([^)]*)\))?[\s:,.-]*(.*)"
)
# An issue reference: #12, GH-12, PROJ-123, or a link.
ISSUE_REF = re.compile(r"#\d+|\b[A-Z][A-Z0-9]+-\d+\b|https?://\S+")
REQUIREMENT_WORDS = 3
CODE_SPAN = re.compile(r"``[^`]+``|`[^`]+`")
# A stub in JavaScript/TypeScript: throwing a "not implemented" error.
JS_STUB = re.compile(r"throw\s+new\s+\w*Error\(\s*['\"`]not\s+implemented", re.IGNORECASE)


def todo_finding(path: str, line_no: int, line: str, *, cell: int | None = None) -> Finding | None:
    """A to-do finding for this line, tracked or bare, or ``None`` when it has no marker."""
    m = TODO_RE.search(line)
    if m is None:
        return None
    token, ref, text = m.group(1), m.group(2) or "", m.group(3).strip()
    text = re.sub(r"\s*(\*/|-->|\"\"\"|''')\s*$", "", text)  # comment closers are not words
    words = re.findall(r"[A-Za-z0-9]{2,}", text)
    if ISSUE_REF.search(ref) or ISSUE_REF.search(text):
        return Finding.of(
            path, line_no, Category.TODO_TRACKED, f"{token} linked to an issue", line, cell
        )
    if len(words) >= REQUIREMENT_WORDS:
        return Finding.of(
            path, line_no, Category.TODO_TRACKED, f"{token} with a stated requirement", line, cell
        )
    return Finding.of(
        path,
        line_no,
        Category.TODO_BARE,
        f"bare {token}: say what is required or link an issue",
        line,
        cell,
    )


def placeholder_finding(path: str, line_no: int, line: str, *, cell: int | None = None) -> Finding:
    return Finding.of(
        path, line_no, Category.MARKER, f"{MARKER} marker: unfinished work", line, cell
    )


def mention_finding(path: str, line_no: int, line: str, *, cell: int | None = None) -> Finding:
    return Finding.of(
        path, line_no, Category.MENTION, f"{MARKER} quoted in prose (not counted)", line, cell
    )


def scan_text_lines(
    path: str,
    text: str,
    *,
    prose: bool,
    js: bool = False,
    cell: int | None = None,
    first_line: int = 1,
) -> list[Finding]:
    """Line rules for files without a Python parse.

    In prose files (Markdown, reStructuredText, plain text) a marker inside a code span
    (backticks) is a quotation, so it is a mention; anywhere else it is critical, because
    a marker in a config value, a script or a page is unfinished work.
    """
    findings: list[Finding] = []
    for offset, line in enumerate(text.splitlines()):
        n = first_line + offset
        if MARKER_RE.search(line):
            bare = CODE_SPAN.sub("", line) if prose else line
            if MARKER_RE.search(bare):
                findings.append(placeholder_finding(path, n, line, cell=cell))
            else:
                findings.append(mention_finding(path, n, line, cell=cell))
        todo = todo_finding(path, n, CODE_SPAN.sub("", line) if prose else line, cell=cell)
        if todo is not None:
            findings.append(todo)
        if js and JS_STUB.search(line):
            findings.append(
                Finding.of(path, n, Category.INCOMPLETE, "throws 'not implemented'", line, cell)
            )
    return findings
