"""Dispatch round trips per second: WorkerClient -> two local ``agency worker`` processes.

One round trip is one ``POST /task`` of a ``noop`` task (a fresh task id each time) through
the full client path: breaker admission, tenacity, the in-flight semaphore, the transport,
JSON decode and model validation. Requests alternate between the two workers; the number
in flight is the total across both. Each (transport, in-flight) cell is the median of 3
runs after a warm-up. Target (issue 3): >= 3,000/s at 16 in flight on this machine.

    python -m benchmarks.bench_dispatch            # 3 x 3,000 round trips per cell
    python -m benchmarks.bench_dispatch --quick    # 3 x 600, for a smoke run

The ``raw`` rows send the same POSTs with a bare aiohttp session: the ceiling the workers
and loopback allow, to tell client cost from worker cost. Prints a table and writes ``benchmarks/results/bench_dispatch.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiohttp

try:
    import uvloop
except ImportError:  # uvloop comes with uvicorn[standard]; plain asyncio otherwise
    uvloop = None  # type: ignore[assignment]

from agency.fleet import WorkerClient
from agency.models import WorkerTaskRequest
from agency.settings import Settings
from agency.testing import WorkerProc, start_worker

RESULTS = Path(__file__).parent / "results"
TARGET_AT_16 = 3000.0
RUNS = 3


@contextmanager
def local_workers(n: int, capacity: int) -> Iterator[list[str]]:
    """Start ``n`` ``agency worker`` processes with a clean env; yield their URLs."""
    with tempfile.TemporaryDirectory(prefix="bench-dispatch-") as tmp:
        workers: list[WorkerProc] = []
        try:
            for i in range(n):
                workers.append(
                    start_worker(
                        Path(tmp) / f"w{i}",
                        worker_id=f"bench-{i}",
                        capacity=capacity,
                        sandbox="off",
                    )
                )
            yield [w.url for w in workers]
        finally:
            for w in workers:
                w.stop(15)


async def one_run(clients: list[Any], in_flight: int, total: int, tag: str) -> dict[str, float]:
    """``total`` submits with ``in_flight`` of them outstanding at any time."""
    ids = itertools.count()
    latencies: list[float] = []

    async def lane() -> None:
        while (i := next(ids)) < total:
            client = clients[i % len(clients)]
            req = WorkerTaskRequest(task_id=f"{tag}-{i}", attempt=1, kind="noop", spec={})
            t0 = time.perf_counter()
            await client.submit(req)
            latencies.append(time.perf_counter() - t0)

    start = time.perf_counter()
    await asyncio.gather(*(lane() for _ in range(in_flight)))
    elapsed = time.perf_counter() - start
    latencies.sort()
    return {
        "rps": total / elapsed,
        "p50_ms": latencies[len(latencies) // 2] * 1000,
        "p95_ms": latencies[int(len(latencies) * 0.95)] * 1000,
    }


class RawAiohttp:
    """Ceiling: bare aiohttp POSTs, no WorkerClient (no breaker, retries, models)."""

    def __init__(self, url: str) -> None:
        self.url = url + "/task"
        self.session: aiohttp.ClientSession | None = None

    async def submit(self, req: WorkerTaskRequest) -> None:
        if self.session is None:
            self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=16))
        body = {"task_id": req.task_id, "attempt": req.attempt, "kind": req.kind, "spec": req.spec}
        async with self.session.post(self.url, json=body) as resp:
            await resp.read()
            if resp.status >= 300:
                raise RuntimeError(f"worker answered {resp.status}")

    async def aclose(self) -> None:
        if self.session is not None:
            await self.session.close()


async def measure(
    urls: list[str], transport: str, in_flight: int, total: int, cell: str
) -> dict[str, Any]:
    settings = Settings.load(env={}, http_client="aiohttp" if transport == "raw" else transport)
    clients: list[Any] = (
        [RawAiohttp(url) for url in urls]
        if transport == "raw"
        else [WorkerClient(f"bench-{i}", url, settings) for i, url in enumerate(urls)]
    )
    try:
        await one_run(clients, in_flight, max(200, total // 5), f"{cell}-warm")
        runs = [await one_run(clients, in_flight, total, f"{cell}-r{r}") for r in range(RUNS)]
    finally:
        for c in clients:
            await c.aclose()
    median = statistics.median(r["rps"] for r in runs)
    return {
        "transport": transport,
        "in_flight": in_flight,
        "round_trips": total,
        "rps_median": round(median, 1),
        "rps_runs": [round(r["rps"], 1) for r in runs],
        "p50_ms": round(statistics.median(r["p50_ms"] for r in runs), 2),
        "p95_ms": round(statistics.median(r["p95_ms"] for r in runs), 2),
        "max_in_flight_per_client": settings.max_in_flight,
    }


def print_table(rows: list[dict[str, Any]]) -> None:
    print(
        f"{'transport':<9} {'in flight':>9} {'round trips/s':>14} {'p50 ms':>8} {'p95 ms':>8}  runs"
    )
    for r in rows:
        runs = " / ".join(f"{x:,.0f}" for x in r["rps_runs"])
        print(
            f"{r['transport']:<9} {r['in_flight']:>9} {r['rps_median']:>14,.0f} "
            f"{r['p50_ms']:>8.2f} {r['p95_ms']:>8.2f}  {runs}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="600 round trips per run instead of 3,000"
    )
    parser.add_argument(
        "--transports",
        default="aiohttp,httpx,raw",
        help="comma-separated: aiohttp, httpx, raw (bare aiohttp, the workers' ceiling)",
    )
    parser.add_argument("--in-flight", default="1,16,64", help="comma-separated concurrency levels")
    parser.add_argument(
        "--loop",
        choices=["uvloop", "asyncio"],
        default="uvloop",
        help="event loop of the client (the control plane runs on uvicorn's uvloop)",
    )
    args = parser.parse_args(argv)
    total = 600 if args.quick else 3000
    transports = [t.strip() for t in args.transports.split(",") if t.strip()]
    levels = [int(x) for x in args.in_flight.split(",")]
    loop_name = args.loop if uvloop is not None else "asyncio"
    runner: Any = uvloop.run if loop_name == "uvloop" and uvloop is not None else asyncio.run

    rows: list[dict[str, Any]] = []
    with local_workers(2, capacity=max(levels) * 4) as urls:
        for transport in transports:
            for level in levels:
                rows.append(runner(measure(urls, transport, level, total, f"{transport}-{level}")))
                print(
                    f"  {transport:<8} {level:>3} in flight: {rows[-1]['rps_median']:,.0f}/s",
                    file=sys.stderr,
                    flush=True,
                )
    print_table(rows)
    at16 = [r for r in rows if r["in_flight"] == 16 and r["transport"] != "raw"]
    best = max(at16, key=lambda r: r["rps_median"]) if at16 else None
    if best is not None:
        verdict = "meets" if best["rps_median"] >= TARGET_AT_16 else "MISSES"
        print(
            f"\nbest at 16 in flight: {best['transport']} {best['rps_median']:,.0f}/s "
            f"({verdict} the {TARGET_AT_16:,.0f}/s target)"
        )
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "bench_dispatch.json"
    out.write_text(
        json.dumps(
            {
                "benchmark": "dispatch",
                "quick": args.quick,
                "loop": loop_name,
                "workers": 2,
                "runs": RUNS,
                "target_rps_at_16": TARGET_AT_16,
                "python": platform.python_version(),
                "cpus": os.cpu_count(),
                "at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "results": rows,
            },
            indent=2,
        )
    )
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
