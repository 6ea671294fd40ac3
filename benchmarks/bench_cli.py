"""CLI start-up benchmark: ``python -m benchmarks.bench_cli [--quick] [--runs N]``.

Median wall time over N fresh processes, started the way a shell starts them, of:

1. ``python -c pass``: the interpreter's own start-up, the floor the others are measured from;
2. ``agency --help``: target within 0.5 s of the floor;
3. ``agency task list`` against a running control plane holding 20 queued tasks: target within
   1 s of the floor (a table of real rows, so pandas and the client are paid for).

The control plane runs as ``agency up`` in a subprocess (``agency.testing.start_control_plane``),
with no workers and no dashboard. Each command runs once before the timed runs, so the page cache and
the bytecode cache are warm: what is measured is import and run time, not disk reads.
``python -X importtime`` of ``agency --help`` is also read: how many modules it loads, the
slowest of them, and whether any of the heavy packages (pandas, papermill, nbformat, duckdb,
fastapi) is among them (tests/cli/test_startup.py asserts that none is).
Prints a table and writes JSON to ``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from agency.testing import clean_env, start_control_plane
from benchmarks.bench_api import AUTH, RESULTS, SETTINGS, TOKEN

HEAVY = ("pandas", "papermill", "nbformat", "duckdb", "fastapi")
HELP_TARGET_S = 0.5
LIST_TARGET_S = 1.0
SEEDED_TASKS = 20


def agency_argv() -> list[str]:
    """The console script beside this interpreter (what a user types), else ``-m agency``."""
    script = Path(sys.executable).parent / "agency"
    return [str(script)] if script.exists() else [sys.executable, "-m", "agency"]


def wall_times(argv: list[str], runs: int, env: dict[str, str]) -> list[float]:
    """Seconds per run of ``argv``, after one untimed warm-up; a failed run stops everything."""
    times: list[float] = []
    for i in range(runs + 1):
        t0 = time.perf_counter()
        done = subprocess.run(argv, env=env, capture_output=True, check=False)
        elapsed = time.perf_counter() - t0
        if done.returncode != 0:
            raise RuntimeError(f"{argv} exited {done.returncode}:\n{done.stderr.decode()}")
        if i:
            times.append(elapsed)
    return times


def import_profile(argv: list[str], env: dict[str, str]) -> dict[str, Any]:
    """What ``agency --help`` imports, from ``python -X importtime`` (cumulative microseconds)."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", *argv],
        env=env,
        capture_output=True,
        check=True,
        text=True,
    )
    rows: list[tuple[int, str]] = []
    for line in done.stderr.splitlines():
        match = re.match(r"import time:\s+\d+ \|\s+(\d+) \|(\s*)(\S+)", line)
        if match:
            rows.append((int(match.group(1)), match.group(3)))
    loaded = {name.split(".")[0] for _, name in rows}
    top = sorted(rows, reverse=True)[:8]
    return {
        "modules": len(rows),
        "heavy_loaded": [h for h in HEAVY if h in loaded],
        "slowest_cumulative_ms": [[name, round(us / 1000, 1)] for us, name in top],
    }


def seed(url: str, count: int) -> None:
    """Queued tasks for ``task list`` to show (no workers: they stay queued)."""
    with httpx.Client(base_url=url, headers=AUTH, timeout=10) as client:
        for _ in range(count):
            client.post("/api/v1/tasks", json={"kind": "noop"}).raise_for_status()


def line(label: str, median: float, floor: float, target: float | None) -> str:
    delta = median - floor
    verdict = ""
    if target is not None:
        ok = "ok" if delta <= target else "MISSED"
        verdict = f"{delta:+.3f} s over the floor; target <= {target} s: {ok} ({target - delta:+.3f} s to spare)"
    return f"{label:<36} {median:>8.3f}  {verdict}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_cli")
    parser.add_argument("--quick", action="store_true", help="Short run (5 runs each).")
    parser.add_argument("--runs", type=int, default=None, help="Runs of each command (default 15).")
    args = parser.parse_args(argv)
    runs = args.runs or (5 if args.quick else 15)
    env = clean_env()  # no AGENCY_* of the caller's: the flags say everything
    agency = agency_argv()
    floor_runs = wall_times([sys.executable, "-c", "pass"], runs, env)
    help_runs = wall_times([*agency, "--help"], runs, env)
    profile = import_profile(["-m", "agency", "--help"], env)
    with tempfile.TemporaryDirectory() as tmp:
        up = start_control_plane(Path(tmp), workers=0, settings=SETTINGS)
        try:
            seed(up.url, SEEDED_TASKS)
            list_argv = [*agency, "task", "list", "--url", up.url, "--token", TOKEN]
            list_runs = wall_times(list_argv, runs, env)
        finally:
            up.stop()
    floor = statistics.median(floor_runs)
    help_median = statistics.median(help_runs)
    list_median = statistics.median(list_runs)
    print(f"{'command (median of ' + str(runs) + ' runs)':<36} {'wall s':>8}")
    print(line("python -c pass", floor, floor, None))
    print(line("agency --help", help_median, floor, HELP_TARGET_S))
    print(line(f"agency task list ({SEEDED_TASKS} tasks)", list_median, floor, LIST_TARGET_S))
    heavy = ", ".join(profile["heavy_loaded"]) or "none"
    print(
        f"agency --help loads {profile['modules']} modules; heavy ones ({', '.join(HEAVY)}): {heavy}"
    )
    print(
        "slowest imports (cumulative ms): "
        + ", ".join(f"{n} {ms}" for n, ms in profile["slowest_cumulative_ms"])
    )
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"cli-{datetime.now(UTC):%Y%m%dT%H%M%S}.json"
    out.write_text(
        json.dumps(
            {
                "when": datetime.now(UTC).isoformat(timespec="seconds"),
                "runs": runs,
                "python_c_pass_s": [round(t, 4) for t in floor_runs],
                "agency_help_s": [round(t, 4) for t in help_runs],
                "agency_task_list_s": [round(t, 4) for t in list_runs],
                "medians_s": {
                    "python_c_pass": round(floor, 4),
                    "agency_help": round(help_median, 4),
                    "agency_task_list": round(list_median, 4),
                },
                "targets_over_floor_s": {
                    "agency_help": HELP_TARGET_S,
                    "agency_task_list": LIST_TARGET_S,
                },
                "help_imports": profile,
            },
            indent=2,
        )
    )
    print(f"results: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
