"""``agency.testing`` is the one harness: benchmarks never reach into ``tests/``, and the
package ships importable without pytest or Playwright."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import agency.testing

ROOT = Path(__file__).resolve().parents[2]
TEST_ONLY = ("pytest", "_pytest", "playwright")


def _imported_roots(path: Path) -> set[str]:
    """The top-level package of every import in ``path`` (absolute imports only)."""
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_no_benchmark_imports_the_tests() -> None:
    benchmarks = sorted((ROOT / "benchmarks").rglob("*.py"))
    assert benchmarks, "no benchmarks found"
    offenders = [
        p.relative_to(ROOT).as_posix() for p in benchmarks if "tests" in _imported_roots(p)
    ]
    assert offenders == [], f"benchmarks import tests/ (use agency.testing): {offenders}"


def test_the_scan_sees_both_import_forms(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("import tests.api\nfrom tests.e2e import x\nfrom . import tests\n")
    assert _imported_roots(sample) == {"tests"}
    sample.write_text("from agency.testing import serve\nimport testsuite\n")
    assert "tests" not in _imported_roots(sample)


def test_importing_the_harness_loads_neither_pytest_nor_playwright() -> None:
    code = (
        "import sys, agency.testing\n"
        f"print(','.join(m for m in {TEST_ONLY!r} if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.strip() == "", done.stdout


def test_every_public_name_resolves_and_modules_declare_theirs() -> None:
    for name in agency.testing.__all__:
        assert getattr(agency.testing, name) is not None, name
    package = Path(agency.testing.__file__).parent
    for path in sorted(package.glob("*.py")):
        tree = ast.parse(path.read_text())
        assert ast.get_docstring(tree), f"{path.name} has no docstring"
        assert any(
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets)
            for node in tree.body
        ), f"{path.name} declares no __all__"
