"""The placeholder scanner: walks files and directories and applies the rules per file type.

Python (``.py``, notebooks' code cells) goes through ``pyscan`` (tokenizer and AST);
every other known text type through the line rules of ``markers``. Directories are walked
for known extensions only, skipping VCS, virtualenv and cache folders; a file named
explicitly is scanned whatever its extension, unless it is binary (a NUL byte in its first
8 KiB), not UTF-8, or larger than ``MAX_BYTES``.
"""

from __future__ import annotations

import fnmatch
import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from agency.errors import BadRequest
from agency.governance.findings import Finding, ScanReport
from agency.governance.markers import scan_text_lines
from agency.governance.pyscan import scan_python

PYTHON_SUFFIXES = frozenset({".py", ".pyw"})
PROSE_SUFFIXES = frozenset({".md", ".markdown", ".rst", ".txt"})
JS_SUFFIXES = frozenset({".js", ".jsx", ".mjs", ".cjs", ".ts", ".tsx"})
TEXT_SUFFIXES = (
    PYTHON_SUFFIXES
    | PROSE_SUFFIXES
    | JS_SUFFIXES
    | frozenset(
        {
            ".pyi",
            ".ipynb",
            ".toml",
            ".yaml",
            ".yml",
            ".json",
            ".cfg",
            ".ini",
            ".sh",
            ".bash",
            ".zsh",
            ".sql",
            ".html",
            ".htm",
            ".css",
            ".go",
            ".rs",
            ".java",
            ".kt",
            ".c",
            ".h",
            ".cc",
            ".cpp",
            ".hpp",
            ".rb",
            ".r",
            ".jl",
            ".lua",
            ".swift",
            ".tf",
        }
    )
)
TEXT_NAMES = frozenset({"Makefile", "Dockerfile", "Justfile", "Containerfile"})
SKIP_DIRS = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        ".venv",
        "venv",
        "node_modules",
        "__pycache__",
        ".mypy_cache",
        ".ruff_cache",
        ".pytest_cache",
        ".ipynb_checkpoints",
        ".tox",
        ".nox",
    }
)
MAX_BYTES = 2_000_000


def _ignored(display: str, rel: str, name: str, ignore: Iterable[str]) -> bool:
    return any(
        fnmatch.fnmatch(candidate, glob) for glob in ignore for candidate in (display, rel, name)
    )


def iter_files(paths: Iterable[Path], ignore: Iterable[str] = ()) -> Iterator[Path]:
    """Files to scan under ``paths``; ``BadRequest`` when a path does not exist."""
    ignore = list(ignore)
    for root in paths:
        if not root.exists():
            raise BadRequest(f"no such file or directory: {root}", details={"path": str(root)})
        if root.is_file():
            if not _ignored(root.as_posix(), root.name, root.name, ignore):
                yield root
            continue
        for dirpath, dirnames, filenames in os.walk(root):
            here = Path(dirpath)
            dirnames[:] = sorted(
                d
                for d in dirnames
                if d not in SKIP_DIRS
                and not d.endswith(".egg-info")
                and not _ignored(
                    (here / d).as_posix(), (here / d).relative_to(root).as_posix(), d, ignore
                )
            )
            for name in sorted(filenames):
                path = here / name
                if path.suffix.lower() not in TEXT_SUFFIXES and name not in TEXT_NAMES:
                    continue
                if not _ignored(path.as_posix(), path.relative_to(root).as_posix(), name, ignore):
                    yield path


def _read_text(path: Path) -> str | None:
    try:
        if path.stat().st_size > MAX_BYTES:
            return None
        raw = path.read_bytes()
    except OSError:
        return None
    if b"\0" in raw[:8192]:
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _scan_notebook(name: str, text: str) -> list[Finding]:
    try:
        cells = json.loads(text).get("cells", [])
    except (ValueError, AttributeError):
        return scan_text_lines(name, text, prose=False)
    findings: list[Finding] = []
    for index, cell in enumerate(cells, start=1):
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else str(source)
        if cell.get("cell_type") == "code":
            # IPython magics and shell escapes are not Python: blank them, keeping line numbers
            lines = ["" if ln.lstrip().startswith(("%", "!")) else ln for ln in source.split("\n")]
            findings.extend(scan_python(name, "\n".join(lines), cell=index))
        else:
            findings.extend(scan_text_lines(name, source, prose=True, cell=index))
    return findings


def scan_source(name: str, text: str) -> list[Finding]:
    """Findings in one file's content; ``name`` (its path) picks the rules by extension."""
    suffix = Path(name).suffix.lower()
    if suffix in PYTHON_SUFFIXES:
        return scan_python(name, text)
    if suffix == ".pyi":
        return scan_python(name, text, stubs=False)  # stub files are all stubs, by design
    if suffix == ".ipynb":
        return _scan_notebook(name, text)
    return scan_text_lines(name, text, prose=suffix in PROSE_SUFFIXES, js=suffix in JS_SUFFIXES)


def scan_paths(paths: Iterable[Path | str], ignore: Iterable[str] = ()) -> ScanReport:
    """Scan files and directories; binary, undecodable and huge files are listed as skipped."""
    report = ScanReport()
    for path in iter_files([Path(p) for p in paths], ignore):
        text = _read_text(path)
        if text is None:
            report.skipped.append(path.as_posix())
            continue
        report.files_scanned += 1
        report.findings.extend(scan_source(path.as_posix(), text))
    return report
