"""Storage benchmark: durable event appends through the writer, and task reads at 1M rows.

    python -m benchmarks.bench_storage           # 200k appends, 1,000,000 tasks
    python -m benchmarks.bench_storage --quick   # 20k appends, 100,000 tasks

Targets (issue 2): >= 20,000 durable appends/s with many concurrent callers; "50 most recent
tasks in state X" and a primary-key lookup under 20 ms median each at 1,000,000 tasks.
Prints a table and writes JSON to ``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from agency.models import EventIn, TaskState
from agency.storage import Store, TaskQuery, TaskRepository
from agency.storage.connection import connect
from agency.storage.migrate import Migrator

RESULTS = Path(__file__).parent / "results"
STATES = [s.value for s in TaskState]


async def appends(path: Path, callers: int, total: int, per_call: int) -> dict[str, Any]:
    """``callers`` concurrent tasks each awaiting ``append`` of ``per_call`` events in a loop."""
    store = await Store.open(path)
    each = total // callers
    latencies: list[float] = []

    async def caller(c: int) -> None:
        for i in range(0, each, per_call):
            batch = [
                EventIn(
                    actor=f"bench{c}",
                    action="bench.append",
                    resource_type="bench",
                    resource_id=str(c),
                    details={"i": i + k},
                )
                for k in range(per_call)
            ]
            t0 = time.perf_counter()
            await store.append(*batch)
            latencies.append(time.perf_counter() - t0)

    start, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(caller(c) for c in range(callers)))
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    done = store.last_seq
    report = await store.verify_chain()
    await store.close()
    latencies.sort()
    return {
        "callers": callers,
        "events_per_call": per_call,
        "events": callers * each,
        "seconds": round(elapsed, 3),
        "events_per_s": round(callers * each / elapsed),
        # CPU seconds of this process: a figure that other load on the machine does not skew
        "events_per_cpu_s": round(callers * each / cpu),
        "chain_ok": report.ok and done >= callers * each,
        "p50_ms": round(latencies[len(latencies) // 2] * 1000, 2),
        "p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 2),
    }


def bulk_tasks(n: int, seed: int = 7) -> pa.Table:
    """``n`` tasks as one Arrow table in the ``tasks`` column order, created one second apart."""
    rng = np.random.default_rng(seed)
    base = int(datetime(2030, 1, 1, tzinfo=UTC).timestamp() * 1_000_000)
    created = pa.array(
        base + np.arange(n, dtype=np.int64) * 1_000_000, pa.timestamp("us", tz="UTC")
    )
    nulls_ts = pa.nulls(n, pa.timestamp("us", tz="UTC"))
    ids = [f"{i:024x}" for i in range(n)]
    state = pa.array(np.array(STATES)[rng.integers(0, len(STATES), n)])
    const = lambda v, t=pa.string(): pa.array(np.full(n, v), t) if v is not None else pa.nulls(n, t)  # noqa: E731
    return pa.table(
        {
            "id": ids,
            "kind": const("noop"),
            "spec": const('{"sleep":0}'),
            "labels": const('{"team":"a"}'),
            "priority": pa.array(rng.integers(-5, 5, n), pa.int32()),
            "state": state,
            "reason": const(None),
            "attempt": pa.array(np.ones(n, dtype=np.int32)),
            "max_attempts": pa.array(np.full(n, 3, dtype=np.int32)),
            "retry": const('{"max_attempts":3,"backoff":1.0,"backoff_max":300.0}'),
            "worker_id": const("w1"),
            "idempotency_key": pa.array([f"key{i}" for i in range(n)]),
            "locks": const("[]"),
            "waiting_for": const("[]"),
            "gates": const("[]"),
            "verdict": const(None),
            "exit_code": pa.nulls(n, pa.int32()),
            "timeout": pa.nulls(n, pa.float64()),
            "deadline": nulls_ts,
            "not_before": nulls_ts,
            "created_by": const("bench"),
            "created_at": created,
            "updated_at": created,
            "dispatched_at": nulls_ts,
            "started_at": nulls_ts,
            "finished_at": nulls_ts,
        }
    )


def load_tasks(path: Path, n: int) -> float:
    conn = connect(path)
    Migrator(conn).migrate()
    table = bulk_tasks(n)
    start = time.perf_counter()
    for offset in range(0, n, 250_000):  # bounded memory per statement
        conn.register("_bulk", table.slice(offset, 250_000))
        conn.execute("INSERT INTO tasks SELECT * FROM _bulk")
        conn.unregister("_bulk")
    conn.execute("CHECKPOINT")
    elapsed = time.perf_counter() - start
    conn.close()
    return n / elapsed


async def reads(path: Path, n: int, repeats: int) -> dict[str, Any]:
    store = await Store.open(path)
    tasks = TaskRepository(store)
    rng = random.Random(3)
    recent: list[float] = []
    lookup: list[float] = []
    by_key: list[float] = []
    for i in range(repeats):
        state = STATES[i % len(STATES)]
        t0 = time.perf_counter()
        page = await tasks.page(TaskQuery(states=[state], limit=50))
        recent.append(time.perf_counter() - t0)
        assert len(page.items) == 50 and all(t.state == state for t in page.items)
        task_id = f"{rng.randrange(n):024x}"
        t0 = time.perf_counter()
        task = await tasks.get(task_id)
        lookup.append(time.perf_counter() - t0)
        assert task is not None and task.id == task_id
        t0 = time.perf_counter()
        await tasks.get_by_key(f"key{rng.randrange(n)}")
        by_key.append(time.perf_counter() - t0)
    await store.close()
    ms = lambda xs: round(statistics.median(xs) * 1000, 2)  # noqa: E731
    p95 = lambda xs: round(sorted(xs)[int(len(xs) * 0.95)] * 1000, 2)  # noqa: E731
    return {
        "tasks": n,
        "repeats": repeats,
        "recent_50_in_state_ms": ms(recent),
        "recent_50_in_state_p95_ms": p95(recent),
        "pk_lookup_ms": ms(lookup),
        "pk_lookup_p95_ms": p95(lookup),
        "idempotency_key_lookup_ms": ms(by_key),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.bench_storage", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--quick", action="store_true", help="Short run (20k appends, 100k tasks).")
    parser.add_argument(
        "--tasks", type=int, help="Tasks to bulk-load (default 1,000,000; quick 100,000)."
    )
    args, _ = parser.parse_known_args(argv)
    n_tasks = args.tasks or (100_000 if args.quick else 1_000_000)
    total = 20_000 if args.quick else 200_000
    results: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": args.quick,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "duckdb": duckdb.__version__,
        },
        "appends": [],
    }
    with tempfile.TemporaryDirectory(prefix="agency-bench-") as tmp:
        for i, (callers, per_call) in enumerate([(50, 1), (500, 1), (1000, 1), (50, 20)]):
            r = asyncio.run(appends(Path(tmp) / f"events{i}.duckdb", callers, total, per_call))
            results["appends"].append(r)
        load_rate = load_tasks(Path(tmp) / "tasks.duckdb", n_tasks)
        results["bulk_load_rows_per_s"] = round(load_rate)
        results["reads"] = asyncio.run(
            reads(Path(tmp) / "tasks.duckdb", n_tasks, 60 if args.quick else 200)
        )
    print_table(results)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"storage-{datetime.now(UTC):%Y%m%dT%H%M%S}.json"
    out.write_text(json.dumps(results, indent=2))
    print(f"\nwrote {out}")
    best = max(r["events_per_s"] for r in results["appends"])
    reads_ok = (
        results["reads"]["recent_50_in_state_ms"] < 20 and results["reads"]["pk_lookup_ms"] < 20
    )
    return (
        0 if best >= 20_000 and reads_ok and all(r["chain_ok"] for r in results["appends"]) else 1
    )


def print_table(results: dict[str, Any]) -> None:
    print(
        "| durable appends | callers | events/call | events | events/s | events/CPU-s | p50 ms | p99 ms | target |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in results["appends"]:
        print(
            f"| through the writer | {r['callers']} | {r['events_per_call']} | {r['events']:,} | "
            f"{r['events_per_s']:,} | {r['events_per_cpu_s']:,} | {r['p50_ms']} | {r['p99_ms']} | >= 20,000/s |"
        )
    rd = results["reads"]
    print(
        f"\n| at {rd['tasks']:,} tasks (bulk load {results['bulk_load_rows_per_s']:,} rows/s) | median ms | p95 ms | target |"
    )
    print("|---|---:|---:|---|")
    print(
        f"| 50 most recent in a state (`list_tasks`) | {rd['recent_50_in_state_ms']} | {rd['recent_50_in_state_p95_ms']} | < 20 ms |"
    )
    print(
        f"| primary-key lookup (`get_task`) | {rd['pk_lookup_ms']} | {rd['pk_lookup_p95_ms']} | < 20 ms |"
    )
    print(f"| idempotency-key lookup (`get_task_by_key`) | {rd['idempotency_key_lookup_ms']} | | |")


if __name__ == "__main__":
    raise SystemExit(main())
