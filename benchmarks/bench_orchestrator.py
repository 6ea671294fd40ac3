"""The orchestrator end to end: throughput, latency at a fixed rate, and recovery time.

Every figure is submit -> dispatch -> worker -> result persisted and audited: a task counts
as finished when the event of its final state is durable (in the store's journal, synced to
disk; seen on ``store.subscribe()``). Two local ``agency worker`` processes, the noop kind,
and the garbage-collector policy of ``agency up`` (``agency/gcpolicy.py``).

1. Throughput: 5,000 tasks submitted in batches of 100, 4 batches in flight at once (as
   concurrent API clients would), with the dispatch running alongside (target >= 1,000 tasks/s).
2. Latency: one task every 10 ms (100 tasks/s); p50/p95 submit-to-finished
   (targets < 5 ms / < 20 ms).
3. Recovery: 100,000 tasks in the database, 1,000 of them in flight on a worker that no
   longer knows them; time for ``start()`` until the dispatcher runs again (target < 5 s),
   and until those 1,000 are orphaned, retried and finished.

    python -m benchmarks.bench_orchestrator            # the figures above
    python -m benchmarks.bench_orchestrator --quick    # 1,000 / 200 / 20,000 for a smoke run

Prints a table and writes ``benchmarks/results/bench_orchestrator.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from agency import gcpolicy
from agency.control.tasks import Orchestrator
from agency.fleet import Registry
from agency.models import (
    TaskState,
    TaskSubmit,
    WorkerHealth,
    WorkerInfo,
    WorkerRegistration,
    new_id,
    utcnow,
)
from agency.settings import Settings
from agency.storage import Repositories, Store, Upsert
from benchmarks.bench_dispatch import local_workers

RESULTS = Path(__file__).parent / "results"
FINAL = {f"task.{s.value}" for s in (TaskState.SUCCEEDED, TaskState.FAILED, TaskState.CANCELED)}
CAPACITY = 256
SUBMITTERS = 4  # concurrent submit_many calls in the throughput run


def settings_for(tmp: Path) -> Settings:
    # no heartbeats in the benchmark: workers stay healthy for the run (an hour of grace)
    return Settings.load(
        env={},
        data_dir=tmp,
        heartbeat_interval=1200.0,
        poll_interval=2.0,
        kpi_sample_interval=5.0,
        max_in_flight=32,
    )


async def open_orchestrator(tmp: Path, urls: list[str]) -> tuple[Orchestrator, Store]:
    settings = settings_for(tmp)
    store = await Store.open(settings.database_path, batch_max=settings.write_batch_max)
    orch = Orchestrator(settings, Repositories(store), Registry(settings))
    await orch.start()
    gcpolicy.settle_after_start()  # as `agency up` runs the orchestrator
    for i, url in enumerate(urls):
        await orch.register_worker(
            WorkerRegistration(id=f"bench-{i}", url=url, kinds=["noop"], capacity=CAPACITY), "bench"
        )
    return orch, store


class Finishes:
    """Commit time of each task's final event, from the store's event subscription."""

    def __init__(self, store: Store) -> None:
        self.sub = store.subscribe(maxsize=1_000_000)
        self.at: dict[str, float] = {}
        self.changed = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        async for ev in self.sub:
            if ev.action in FINAL:
                self.at[ev.resource_id] = time.perf_counter()
                self.changed.set()

    async def wait(self, n: int, timeout: float) -> None:
        until = time.monotonic() + timeout
        while len(self.at) < n:
            self.changed.clear()
            left = until - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{len(self.at)} of {n} finished")
            try:
                await asyncio.wait_for(self.changed.wait(), left)
            except TimeoutError:
                continue

    async def close(self) -> None:
        self.sub.close()
        self._task.cancel()


async def throughput(urls: list[str], total: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-orch-") as tmp:
        orch, store = await open_orchestrator(Path(tmp), urls)
        done = Finishes(store)
        try:
            # like API clients: several batch submits in flight at once, 100 tasks each
            lanes = asyncio.Semaphore(SUBMITTERS)

            async def submit(n: int) -> None:
                async with lanes:
                    await orch.submit_many([TaskSubmit(kind="noop") for _ in range(n)], "bench")

            t0 = time.perf_counter()
            await asyncio.gather(
                *(submit(min(100, total - start)) for start in range(0, total, 100))
            )
            await done.wait(total, timeout=300)
            elapsed = time.perf_counter() - t0
            ok = (await store.fetch("SELECT count(*) AS n FROM tasks WHERE state = 'succeeded'"))[
                0
            ]["n"]
            events = (await store.fetch("SELECT count(*) AS n FROM events"))[0]["n"]
        finally:
            await done.close()
            await orch.stop()
            await store.close()
    return {
        "tasks": total,
        "seconds": round(elapsed, 3),
        "tasks_per_s": round(total / elapsed, 1),
        "succeeded": ok,
        "events": events,
        "target_tasks_per_s": 1000,
    }


async def latency(urls: list[str], total: int, rate: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-orch-") as tmp:
        orch, store = await open_orchestrator(Path(tmp), urls)
        done = Finishes(store)
        started: dict[str, float] = {}
        try:
            # warm up connections and the writer before measuring
            warm = await orch.submit_many([TaskSubmit(kind="noop") for _ in range(50)], "warm")
            await done.wait(len(warm), timeout=60)
            base = len(done.at)
            t0 = time.perf_counter()
            for i in range(total):
                delay = t0 + i / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                at = time.perf_counter()
                task = await orch.submit(TaskSubmit(kind="noop"), "bench")
                started[task.id] = at
            await done.wait(base + total, timeout=120)
        finally:
            await done.close()
            await orch.stop()
            await store.close()
    ms = sorted((done.at[t] - s) * 1000 for t, s in started.items())
    return {
        "tasks": total,
        "rate_per_s": rate,
        "p50_ms": round(statistics.median(ms), 2),
        "p95_ms": round(ms[int(0.95 * (len(ms) - 1))], 2),
        "max_ms": round(ms[-1], 2),
        "target_p50_ms": 5,
        "target_p95_ms": 20,
    }


async def seed(store: Store, total: int, in_flight: int, worker_id: str, url: str) -> None:
    """``total`` tasks: ``in_flight`` running on ``worker_id``, the rest succeeded long ago."""
    now = utcnow()
    await store.write(
        Upsert(
            "workers",
            # the whole model, so every column (later migrations' included) has its value
            [
                WorkerInfo(
                    id=worker_id,
                    url=url,
                    kinds=["noop"],
                    capacity=CAPACITY * 20,
                    version="bench",
                    health=WorkerHealth.HEALTHY,
                    registered_at=now,
                    last_heartbeat=now,
                ).model_dump(mode="python")
            ],
        )
    )
    batch: list[dict[str, Any]] = []
    for i in range(total):
        running = i < in_flight
        created = now - timedelta(seconds=total - i)
        batch.append(
            {
                "id": new_id() + f"{i:08d}",
                "kind": "noop",
                "spec": {},
                "labels": {},
                "priority": 0,
                "state": "running" if running else "succeeded",
                "reason": None,
                "attempt": 1,
                "max_attempts": 3,
                "retry": {"max_attempts": 3, "backoff": 0.0, "backoff_max": 300.0},
                "worker_id": worker_id,
                "idempotency_key": None,
                "locks": [],
                "waiting_for": [],
                "gates": [],
                "verdict": None,
                "exit_code": None if running else 0,
                "timeout": None,
                "deadline": None,
                "not_before": None,
                "created_by": "seed",
                "created_at": created,
                "updated_at": created,
                "dispatched_at": created,
                "started_at": created,
                "finished_at": None if running else created,
            }
        )
        if len(batch) == 10_000:
            await store.write(Upsert("tasks", batch))
            batch = []
    if batch:
        await store.write(Upsert("tasks", batch))


async def recovery(urls: list[str], total: int, in_flight: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-orch-") as tmp:
        settings = settings_for(Path(tmp))
        store = await Store.open(settings.database_path)
        await seed(store, total, in_flight, "bench-0", urls[0])
        await store.close()
        store = await Store.open(settings.database_path)
        done = Finishes(store)
        orch = Orchestrator(settings, Repositories(store), Registry(settings))
        try:
            t0 = time.perf_counter()
            await orch.start()
            ready = time.perf_counter() - t0
            # the stored worker heartbeats again (it restarted and forgot the tasks)
            await orch.register_worker(
                WorkerRegistration(
                    id="bench-0", url=urls[0], kinds=["noop"], capacity=CAPACITY * 20
                ),
                "bench",
            )
            await done.wait(in_flight, timeout=120)
            resolved = time.perf_counter() - t0
            live = orch.recovery
        finally:
            await done.close()
            await orch.stop()
            await store.close()
    return {
        "tasks_in_db": total,
        "in_flight": in_flight,
        "ready_s": round(ready, 3),
        "all_in_flight_resolved_s": round(resolved, 3),
        "recovered": live,
        "target_ready_s": 5,
    }


async def run(quick: bool) -> dict[str, Any]:
    n_through, n_lat, n_db = (1000, 200, 20_000) if quick else (5000, 1000, 100_000)
    with local_workers(2, CAPACITY) as urls:
        return {
            "throughput": await throughput(urls, n_through),
            "latency": await latency(urls, n_lat, 100.0),
            "recovery": await recovery(urls, n_db, 1000),
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    try:
        result = asyncio.run(run(args.quick))
    finally:
        gcpolicy.release()
    result["machine"] = {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "quick": args.quick,
    }
    t, lat, rec = result["throughput"], result["latency"], result["recovery"]
    print(
        f"throughput  {t['tasks']} noop tasks in {t['seconds']} s: {t['tasks_per_s']} tasks/s "
        f"(target >= 1000); {t['succeeded']} succeeded, {t['events']} events"
    )
    print(
        f"latency     at {lat['rate_per_s']:.0f}/s: p50 {lat['p50_ms']} ms (target < 5), "
        f"p95 {lat['p95_ms']} ms (target < 20), max {lat['max_ms']} ms"
    )
    print(
        f"recovery    {rec['tasks_in_db']} tasks, {rec['in_flight']} in flight: ready in "
        f"{rec['ready_s']} s (target < 5); all in-flight resolved in {rec['all_in_flight_resolved_s']} s"
    )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "bench_orchestrator.json").write_text(json.dumps(result, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
