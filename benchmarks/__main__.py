"""Run every ``benchmarks/bench_*.py`` module's ``main(argv)`` in turn; arguments are passed on.

``python -m benchmarks --quick`` gives a short run of each.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path


def run(argv: list[str]) -> int:
    failed = 0
    for path in sorted(Path(__file__).parent.glob("bench_*.py")):
        name = f"benchmarks.{path.stem}"
        print(f"\n=== {name} ===", flush=True)
        module = importlib.import_module(name)
        code = module.main(argv)
        failed += 1 if code else 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
