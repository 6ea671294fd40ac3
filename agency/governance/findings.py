"""What the scanner reports: categories, severities and one finding."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel


class Severity(StrEnum):
    """How bad a finding is; ``critical`` fails ``agency lint`` and the placeholders gate."""

    CRITICAL = "critical"
    WARNING = "warning"
    INFO = "info"


class Category(StrEnum):
    """Kinds of finding, each with one fixed severity (``SEVERITY``)."""

    MARKER = "placeholder"  # the placeholder marker in code, a comment, a value
    INCOMPLETE = "incomplete-implementation"  # a stub body
    TODO_TRACKED = "todo-with-requirement"  # a to-do marker naming an issue or a requirement
    TODO_BARE = "todo-bare"  # a to-do marker saying nothing actionable
    MENTION = "mention"  # the marker quoted in prose: a docstring, a sentence, a code span
    UNPARSABLE = "unparsable"  # Python that does not parse: stubs could not be checked


SEVERITY: dict[Category, Severity] = {
    Category.MARKER: Severity.CRITICAL,
    Category.INCOMPLETE: Severity.CRITICAL,
    Category.TODO_TRACKED: Severity.WARNING,
    Category.TODO_BARE: Severity.WARNING,
    Category.MENTION: Severity.INFO,
    Category.UNPARSABLE: Severity.INFO,
}


class Finding(BaseModel):
    """One finding: where (file, line, notebook cell) and what."""

    path: str
    line: int
    category: Category
    severity: Severity
    message: str
    text: str = ""
    cell: int | None = None

    @classmethod
    def of(
        cls,
        path: str,
        line: int,
        category: Category,
        message: str,
        text: str = "",
        cell: int | None = None,
    ) -> Finding:
        return cls(
            path=path,
            line=line,
            category=category,
            severity=SEVERITY[category],
            message=message,
            text=text.strip()[:200],
            cell=cell,
        )

    @property
    def location(self) -> str:
        """``file:line``, or ``file:cell N:line`` inside a notebook."""
        if self.cell is not None:
            return f"{self.path}:cell {self.cell}:{self.line}"
        return f"{self.path}:{self.line}"


class ScanReport(BaseModel):
    """Every finding of one scan, and which files were read or skipped."""

    findings: list[Finding] = []
    files_scanned: int = 0
    skipped: list[str] = []

    @property
    def critical(self) -> list[Finding]:
        return [f for f in self.findings if f.severity is Severity.CRITICAL]

    def counts(self) -> dict[str, int]:
        out = {s.value: 0 for s in Severity}
        for f in self.findings:
            out[f.severity.value] += 1
        return out
