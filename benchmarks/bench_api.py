"""API benchmark: ``python -m benchmarks.bench_api [--quick]``.

1. ``POST /api/v1/tasks`` (noop) from 32 concurrent clients (target p95 < 10 ms), two ways:
   closed loop (each client sends its next request as soon as the previous one is answered:
   the server's saturation, where by Little's law the mean latency is 32 / rate), and paced
   (the 32 clients together send a fixed total rate, each its share on a schedule: latency
   under a load the server keeps up with). Every task submitted is also dispatched to a
   worker and finished by the same control plane meanwhile.
2. Task throughput (submit -> finished, noop, two local workers) without and with 100 SSE
   clients on ``/api/v1/metrics/stream``, alternating, three rounds (medians compared); every
   SSE client must receive every snapshot, and throughput must stay within 10% of the run
   without them.

The control plane runs as ``agency up`` in a subprocess (``agency.testing.start_control_plane``:
its own process and loop, as in production); the load comes from aiohttp (DESIGN.md: httpx's pool degrades with concurrency).
Prints a table and writes JSON to ``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import psutil

from agency.client.sse import SseDecoder
from agency.testing import start_control_plane

RESULTS = Path(__file__).parent / "results"
PACED_RATES = (100, 200, 400)  # total POSTs per second from the 32 clients
TOKEN = "bench-admin-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SETTINGS = {
    "AGENCY_ADMIN_TOKEN": TOKEN,
    "AGENCY_RATE_LIMIT": "1000000",
    "AGENCY_LOG_LEVEL": "WARNING",
    "AGENCY_WORKER_CAPACITY": "64",
}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def post_latency(url: str, total: int, clients: int) -> dict[str, Any]:
    latencies: list[float] = []
    body = {"kind": "noop"}
    per_client = total // clients

    async def one(session: aiohttp.ClientSession) -> None:
        for _ in range(per_client):
            t0 = time.perf_counter()
            async with session.post(url + "/api/v1/tasks", json=body, headers=AUTH) as r:
                await r.read()
                assert r.status == 201, r.status
            latencies.append((time.perf_counter() - t0) * 1000)

    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector) as session:
        for _ in range(2):  # warm-up
            async with session.post(url + "/api/v1/tasks", json=body, headers=AUTH) as r:
                await r.read()
        t0 = time.perf_counter()
        await asyncio.gather(*(one(session) for _ in range(clients)))
        elapsed = time.perf_counter() - t0
    return {
        "requests": len(latencies),
        "clients": clients,
        "rate_per_s": round(len(latencies) / elapsed),
        "p50_ms": round(statistics.median(latencies), 2),
        "p95_ms": round(pct(latencies, 0.95), 2),
        "p99_ms": round(pct(latencies, 0.99), 2),
    }


async def post_paced(url: str, rate: float, clients: int, seconds: float) -> dict[str, Any]:
    """``clients`` sessions sending ``rate`` POSTs per second in total, on a fixed schedule
    (a late answer does not push the next request back: the schedule is the load)."""
    latencies: list[float] = []
    share = rate / clients
    body = {"kind": "noop"}

    async def one(session: aiohttp.ClientSession, k: int, start: float) -> None:
        first = start + k / rate  # the clients' schedules interleave evenly
        for i in range(int(seconds * share)):
            delay = first + i / share - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            t0 = time.perf_counter()
            async with session.post(url + "/api/v1/tasks", json=body, headers=AUTH) as r:
                await r.read()
                assert r.status == 201, r.status
            latencies.append((time.perf_counter() - t0) * 1000)

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=clients)) as session:
        for _ in range(2):  # warm-up
            async with session.post(url + "/api/v1/tasks", json=body, headers=AUTH) as r:
                await r.read()
        start = time.perf_counter()
        await asyncio.gather(*(one(session, k, start) for k in range(clients)))
    return {
        "rate_per_s": rate,
        "clients": clients,
        "requests": len(latencies),
        "p50_ms": round(statistics.median(latencies), 2),
        "p95_ms": round(pct(latencies, 0.95), 2),
        "p99_ms": round(pct(latencies, 0.99), 2),
    }


async def throughput(url: str, tasks: int, clients: int) -> float:
    """Tasks/s from the first submit until the last ``task.succeeded`` event (``tasks`` is
    rounded down to a multiple of 20)."""
    tasks -= tasks % 20
    done = asyncio.Event()
    seen = 0
    ready = asyncio.Event()

    async def watch(session: aiohttp.ClientSession) -> None:
        nonlocal seen
        decoder = SseDecoder()
        async with session.get(
            url + "/api/v1/events/stream",
            params={"action": "task.succeeded"},
            headers=AUTH,
            timeout=aiohttp.ClientTimeout(total=None),
        ) as r:
            ready.set()
            async for raw in r.content:
                msg = decoder.feed(raw.decode())
                if msg is not None:
                    seen += 1
                    if seen >= tasks:
                        done.set()
                        return

    async def submit(session: aiohttp.ClientSession, batches: int) -> None:
        for _ in range(batches):  # batches of 20: the submit path is not what is measured here
            async with session.post(
                url + "/api/v1/tasks", json={"tasks": [{"kind": "noop"}] * 20}, headers=AUTH
            ) as r:
                await r.read()

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=clients + 2)) as session:
        watcher = asyncio.create_task(watch(session))
        await asyncio.wait_for(ready.wait(), 10)
        await asyncio.sleep(
            0.2
        )  # the subscription is registered once the stream's first bytes left
        t0 = time.perf_counter()
        batches = tasks // 20
        await asyncio.gather(
            *(
                submit(session, batches // clients + (1 if i < batches % clients else 0))
                for i in range(clients)
            )
        )
        await asyncio.wait_for(done.wait(), 300)
        elapsed = time.perf_counter() - t0
        watcher.cancel()
    return tasks / elapsed


async def _listen_all(url: str, sse_clients: int, stop: Any, out: Path) -> None:
    ids: list[list[int]] = [[] for _ in range(sse_clients)]

    async def listen(i: int, session: aiohttp.ClientSession) -> None:
        decoder = SseDecoder()
        async with session.get(
            url + "/api/v1/metrics/stream", headers=AUTH, timeout=aiohttp.ClientTimeout(total=None)
        ) as r:
            async for raw in r.content:
                msg = decoder.feed(raw.decode())
                if msg is not None and msg.id:
                    ids[i].append(int(msg.id))

    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=sse_clients + 4)
    ) as session:
        listeners = [asyncio.create_task(listen(i, session)) for i in range(sse_clients)]
        while not stop.is_set():
            await asyncio.sleep(0.1)
        for t in listeners:
            t.cancel()
        await asyncio.gather(*listeners, return_exceptions=True)
    out.write_text(json.dumps(ids))


def _listener_process(url: str, sse_clients: int, stop: Any, out: str) -> None:
    asyncio.run(_listen_all(url, sse_clients, stop, Path(out)))


def idle_cpu(pid: int, seconds: float) -> float:
    """CPU seconds per second the process used over ``seconds`` of idle time."""
    proc = psutil.Process(pid)
    t0 = proc.cpu_times()
    time.sleep(seconds)
    t1 = proc.cpu_times()
    return (t1.user + t1.system - t0.user - t0.system) / seconds


def sse_rounds(
    url: str, pid: int, tasks: int, clients: int, sse_clients: int, rounds: int, tmp: Path
) -> dict[str, Any]:
    """Task throughput without and with ``sse_clients`` on the metrics stream, alternating
    (the database grows with every run, so neither side gets all the later, slower runs).

    The listeners run in a separate process (clients are elsewhere in real life; sharing the
    load generator's loop would measure the generator instead). Also the control plane's
    own CPU while idle, without and with the listeners: their direct cost.
    """
    ctx = multiprocessing.get_context("spawn")
    without: list[float] = []
    with_sse: list[float] = []
    cpu_without: list[float] = []
    cpu_with: list[float] = []
    missing = connected = snapshots = 0
    for r in range(rounds):
        without.append(asyncio.run(throughput(url, tasks, clients)))
        cpu_without.append(idle_cpu(pid, 3.0))
        stop_event = ctx.Event()
        out = tmp / f"sse-ids-{r}.json"
        listener = ctx.Process(
            target=_listener_process, args=(url, sse_clients, stop_event, str(out))
        )
        listener.start()
        try:
            time.sleep(4.0)  # spawned, connected and past the first snapshot
            cpu_with.append(idle_cpu(pid, 3.0))
            with_sse.append(asyncio.run(throughput(url, tasks, clients)))
            time.sleep(1.5)
        finally:
            stop_event.set()
            listener.join(30)
        ids: list[list[int]] = json.loads(out.read_text())
        # every client must hold every snapshot id of the window they all listened through
        window_start = max(lst[1] for lst in ids if len(lst) > 1)
        window_end = min(lst[-1] for lst in ids)
        reference = sorted({i for lst in ids for i in lst if window_start <= i <= window_end})
        missing += sum(
            1 for lst in ids if [i for i in lst if window_start <= i <= window_end] != reference
        )
        connected = min(connected or sse_clients, sum(1 for lst in ids if lst))
        snapshots += len(reference)
    return {
        "rounds": rounds,
        "sse_clients": sse_clients,
        "tasks_per_s_without": [round(x) for x in without],
        "tasks_per_s_with": [round(x) for x in with_sse],
        "median_without": round(statistics.median(without)),
        "median_with": round(statistics.median(with_sse)),
        "idle_cpu_without": round(statistics.median(cpu_without), 4),
        "idle_cpu_with": round(statistics.median(cpu_with), 4),
        "snapshots_in_windows": snapshots,
        "clients_missing_a_snapshot": missing,
        "clients_connected": connected,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_api")
    parser.add_argument("--quick", action="store_true", help="Short run.")
    args = parser.parse_args(argv)
    posts = 1_000 if args.quick else 10_000
    seconds = 3.0 if args.quick else 10.0
    tasks = 1_000 if args.quick else 5_000
    with tempfile.TemporaryDirectory() as tmp:
        up = start_control_plane(Path(tmp), workers=2, settings=SETTINGS)
        url = up.url
        try:
            post = asyncio.run(post_latency(url, posts, 32))
            paced = [asyncio.run(post_paced(url, rate, 32, seconds)) for rate in PACED_RATES]
            loaded = sse_rounds(url, up.pid, tasks, 8, 100, 1 if args.quick else 3, Path(tmp))
        finally:
            up.stop()
    baseline = loaded["median_without"]
    ratio = loaded["median_with"] / baseline
    ok_latency = post["p95_ms"] < 10
    ok_snapshots = loaded["clients_missing_a_snapshot"] == 0
    print(f"{'measure':<52} {'value':>12}  target")
    print(
        f"{'POST /api/v1/tasks, 32 clients: p50 / p95 / p99 ms':<52} "
        f"{post['p50_ms']:>4} / {post['p95_ms']} / {post['p99_ms']}  p95 < 10 ms {'ok' if ok_latency else 'MISSED'}"
    )
    print(
        f"{'POST /api/v1/tasks, 32 clients: requests/s':<52} {post['rate_per_s']:>12}  "
        f"(closed loop: mean latency = 32 / rate = {32000 / post['rate_per_s']:.1f} ms)"
    )
    for p in paced:
        label = f"POST, 32 clients paced at {p['rate_per_s']:.0f}/s: p50 / p95 / p99 ms"
        print(
            f"{label:<52} {p['p50_ms']:>4} / {p['p95_ms']} / {p['p99_ms']}  "
            f"p95 < 10 ms {'ok' if p['p95_ms'] < 10 else 'MISSED'}"
        )
    print(
        f"{'tasks/s (noop, 2 workers), no SSE clients, median':<52} {baseline:>12}  "
        f"{loaded['tasks_per_s_without']}"
    )
    print(
        f"{'tasks/s with 100 metrics SSE clients, median':<52} {loaded['median_with']:>12}  "
        f">= 90% ({ratio:.0%}) {'ok' if ratio >= 0.9 else 'MISSED'}  {loaded['tasks_per_s_with']}"
    )
    print(
        f"{'control plane CPU when idle, without / with them':<52} "
        f"{loaded['idle_cpu_without']:.1%} / {loaded['idle_cpu_with']:.1%} of a core"
    )
    print(
        f"{'SSE clients missing a snapshot (of ' + str(loaded['snapshots_in_windows']) + ')':<52} "
        f"{loaded['clients_missing_a_snapshot']:>12}  0 {'ok' if ok_snapshots else 'MISSED'}"
    )
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"api-{datetime.now(UTC):%Y%m%dT%H%M%S}.json"
    out.write_text(
        json.dumps(
            {
                "when": datetime.now(UTC).isoformat(timespec="seconds"),
                "quick": args.quick,
                "post": post,
                "post_paced": paced,
                "sse": loaded,
                "ratio": round(ratio, 3),
            },
            indent=2,
        )
    )
    print(f"results: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
