"""Run every ``benchmarks/bench_*.py`` module's ``main(argv)`` in turn; arguments are passed on.

``python -m benchmarks --quick`` gives a short run of each; leading names pick some of them:
``python -m benchmarks bench_vs_celery --quick`` (``vs_celery`` works too).
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path


def run(argv: list[str]) -> int:
    lead = next((i for i, a in enumerate(argv) if a.startswith("-")), len(argv))
    names = [a.removeprefix("bench_") for a in argv[:lead]]  # what follows is the modules'
    args = argv[lead:]
    paths = sorted(Path(__file__).parent.glob("bench_*.py"))
    unknown = set(names) - {p.stem.removeprefix("bench_") for p in paths}
    if unknown:
        print(f"no such benchmark: {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    failed = 0
    for path in paths:
        if names and path.stem.removeprefix("bench_") not in names:
            continue
        name = f"benchmarks.{path.stem}"
        print(f"\n=== {name} ===", flush=True)
        module = importlib.import_module(name)
        code = module.main(args)
        failed += 1 if code else 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
