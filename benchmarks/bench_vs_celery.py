"""agency beside Celery on the same work: ``python -m benchmarks.bench_vs_celery [--quick]``.

Celery 5 with Redis (``celery -A benchmarks.celery_noop worker --pool threads -c 2``, Redis
from Debian on a free loopback port without persistence) against ``agency up --workers 2``
as a user starts it (defaults, but for the admin token and a rate limit no benchmark client
trips over). Both run for the whole benchmark; each measure alternates the two systems, which
goes first swapping every round, for ``--rounds`` rounds (3); medians across the rounds.

1. Burst: 2,000 no-ops submitted in batches of 100 by one client, one batch after the other
   (agency: ``POST /api/v1/tasks`` with ``{"tasks": [...]}``; Celery: ``send_task`` on one
   producer). Tasks/s from the first submit until the client holds the last completion:
   agency's final event on ``GET /api/v1/events/stream`` (every task event, and the
   ``?action=task.succeeded`` variant), Celery's stored result as the Redis result backend
   announces it (``celery_side``). Also the CPU per task of the serving processes (agency's
   control plane and workers; Celery's worker and Redis).
2. One client at a fixed 200 tasks/s for 10 s: submit -> completion latency, p50 / p95.
3. Idle, one request at a time on one persistent connection, 20 ms apart: ``POST
   /api/v1/tasks`` (Celery: a ``send_task``), ``GET /health``, ``GET /api/v1/tasks?limit=1``.
4. A 3,000-task burst without and with 100 clients on ``/api/v1/metrics/stream`` and 20
   chat sockets (``agency_load``): the rate with them as a share of the rate without (the
   median of the rounds' shares, each round's pair back to back), and
   the snapshots a client missed while the burst ran (agency only).
5. The floor under agency's durable acknowledgement: ``fdatasync`` of a small append in the
   benchmark's directory, measured each round (Celery's Redis runs without persistence).

The load generator, both systems and the machine's other tenants share its cores: the
figures move between runs; the ratios of one run are what this is for. Prints a table and
writes JSON to ``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agency.testing import start_control_plane
from benchmarks import agency_side, celery_side
from benchmarks.agency_load import listener_process
from benchmarks.bench_api import RESULTS, TOKEN, pct

SETTINGS = {
    "AGENCY_ADMIN_TOKEN": TOKEN,
    "AGENCY_RATE_LIMIT": "1000000",  # the default 200/s per token would refuse the clients
    "AGENCY_LOG_LEVEL": "WARNING",
}
BATCH = 100
RATE = 200.0
SSE_CLIENTS = 100
CHAT_SOCKETS = 20
SETTLE = 1.0  # seconds between measures: the previous one's stragglers finish


@dataclass(frozen=True)
class Sizes:
    """How much work each measure does (``--quick`` shrinks it)."""

    burst: int
    paced_s: float
    idle: int
    load: int


FULL = Sizes(burst=2_000, paced_s=10.0, idle=200, load=3_000)
QUICK = Sizes(burst=500, paced_s=2.0, idle=50, load=600)


def fsync_floor(directory: Path, count: int = 100, gap: float = 0.01) -> dict[str, float]:
    """``fdatasync`` of a small append in ``directory``, ``gap`` s apart: the floor under a
    durable acknowledgement on this disk at this moment (a shared disk moves it a lot)."""
    path = directory / "fsync-probe"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    lat: list[float] = []
    try:
        for _ in range(count):
            t0 = time.perf_counter()
            os.write(fd, b"x" * 512)
            os.fdatasync(fd)
            lat.append((time.perf_counter() - t0) * 1000)
            time.sleep(gap)
    finally:
        os.close(fd)
        path.unlink()
    return {"p50_ms": round(statistics.median(lat), 3), "p95_ms": round(pct(lat, 0.95), 3)}


def load_pair(url: str, pid: int, size: int, tmp: Path, r: int) -> dict[str, Any]:
    """One burst without the side load and one with it (which first alternates by round)."""
    timeout = max(60.0, size / 20)
    out: dict[str, Any] = {}
    for with_load in (False, True) if r % 2 == 0 else (True, False):
        if not with_load:
            out["without"] = asyncio.run(
                agency_side.burst(url, pid, size, BATCH, "task.succeeded", timeout)
            )
            time.sleep(SETTLE)
            continue
        ctx = multiprocessing.get_context("spawn")
        stop_event = ctx.Event()
        seen_file = tmp / f"load-{r}.json"
        proc = ctx.Process(
            target=listener_process,
            args=(url, SSE_CLIENTS, CHAT_SOCKETS, stop_event, str(seen_file)),
        )
        proc.start()
        try:
            time.sleep(5.0)  # spawned, connected, past the first snapshot and chat answers
            t0 = time.time()
            out["with"] = asyncio.run(
                agency_side.burst(url, pid, size, BATCH, "task.succeeded", timeout)
            )
            t1 = time.time()
            time.sleep(1.5)  # the snapshot of the burst's last second reaches everyone
        finally:
            stop_event.set()
            proc.join(60)
            if proc.is_alive():
                proc.kill()
        seen = json.loads(seen_file.read_text())
        out["side"] = side_load_report(seen, t0, t1)
        time.sleep(SETTLE)
    return out


def side_load_report(seen: dict[str, Any], t0: float, t1: float) -> dict[str, Any]:
    """Snapshots any client received while the burst ran: how many each other client lacks."""
    per_client = [{ident for ident, _ in client} for client in seen["ids"]]
    window = {ident for client in seen["ids"] for ident, at in client if t0 <= at <= t1 + 1.0}
    return {
        "sse_connected": sum(1 for ids in per_client if ids),
        "snapshots_in_window": len(window),
        "snapshots_missed": sum(len(window - ids) for ids in per_client),
        "clients_missing_one": sum(1 for ids in per_client if window - ids),
        "chat": seen["chat"],
        "failures": seen["failures"],
    }


def one_round(
    celery: celery_side.CelerySystem, url: str, pid: int, sizes: Sizes, tmp: Path, r: int
) -> dict[str, Any]:
    timeout = max(60.0, sizes.burst / 20)
    res: dict[str, Any] = {"round": r}

    def celery_burst() -> None:
        res["celery_burst"] = celery_side.burst(celery, sizes.burst, BATCH, timeout)

    def agency_burst() -> None:
        res["agency_burst"] = asyncio.run(
            agency_side.burst(url, pid, sizes.burst, BATCH, None, timeout)
        )
        time.sleep(SETTLE)
        res["agency_burst_filtered"] = asyncio.run(
            agency_side.burst(url, pid, sizes.burst, BATCH, "task.succeeded", timeout)
        )

    def celery_paced() -> None:
        res["celery_paced"] = celery_side.paced(celery, RATE, sizes.paced_s)

    def agency_paced() -> None:
        res["agency_paced"] = asyncio.run(agency_side.paced(url, RATE, sizes.paced_s))

    def celery_idle() -> None:
        res["celery_publish"] = celery_side.publish_latency(celery, sizes.idle, 0.02)

    def agency_idle() -> None:
        for key, method, path in (
            ("agency_post", "POST", "/api/v1/tasks"),
            ("agency_health", "GET", "/health"),
            ("agency_list", "GET", "/api/v1/tasks?limit=1"),
        ):
            res[key] = asyncio.run(agency_side.idle(url, method, path, sizes.idle, 0.02))

    for pair in (
        (celery_burst, agency_burst),
        (celery_paced, agency_paced),
        (celery_idle, agency_idle),
    ):
        for measure in pair if r % 2 == 0 else reversed(pair):
            measure()
            time.sleep(SETTLE)
    res["load"] = load_pair(url, pid, sizes.load, tmp, r)
    res["fsync"] = fsync_floor(tmp)
    print(f"round {r + 1} done", flush=True)
    return res


def med(rounds: list[dict[str, Any]], *path: str) -> float:
    values: list[float] = []
    for r in rounds:
        v: Any = r
        for key in path:
            v = v[key]
        values.append(float(v))
    return statistics.median(values)


def summarise(rounds: list[dict[str, Any]], sizes: Sizes) -> list[dict[str, Any]]:
    """The table's rows: measure, Celery, agency, agency/Celery, target and whether it is met."""
    rows: list[dict[str, Any]] = []

    def row(
        what: str, celery: float | None, agency: float, target: str = "", met: bool | None = None
    ) -> None:
        ratio = agency / celery if celery else None
        rows.append(
            {"measure": what, "celery": celery, "agency": agency, "ratio": ratio}
            | {"target": target, "met": met}
        )

    c_rate = med(rounds, "celery_burst", "tasks_per_s")
    for key, label in (("agency_burst", "events stream"), ("agency_burst_filtered", "?action=")):
        a_rate = med(rounds, key, "tasks_per_s")
        row(
            f"burst {sizes.burst:,}: tasks/s ({label})",
            c_rate,
            a_rate,
            ">= 3x Celery",
            a_rate >= 3 * c_rate,
        )
    row(
        "burst: CPU ms per task (servers)",
        med(rounds, "celery_burst", "cpu_ms_per_task"),
        med(rounds, "agency_burst_filtered", "cpu_ms_per_task"),
    )
    c50, a50 = med(rounds, "celery_paced", "p50_ms"), med(rounds, "agency_paced", "p50_ms")
    row(f"{RATE:.0f}/s: submit -> final p50 ms", c50, a50, "<= Celery's p50", a50 <= c50)
    row(
        f"{RATE:.0f}/s: submit -> final p95 ms",
        med(rounds, "celery_paced", "p95_ms"),
        med(rounds, "agency_paced", "p95_ms"),
    )
    p50, p95 = med(rounds, "agency_post", "p50_ms"), med(rounds, "agency_post", "p95_ms")
    row(
        "idle POST /tasks p50 ms (Celery: send_task)",
        med(rounds, "celery_publish", "p50_ms"),
        p50,
        "<= 2 ms",
        p50 <= 2,
    )
    row(
        "idle POST /tasks p95 ms (Celery: send_task)",
        med(rounds, "celery_publish", "p95_ms"),
        p95,
        "<= 5 ms",
        p95 <= 5,
    )
    h50 = med(rounds, "agency_health", "p50_ms")
    row("idle GET /health p50 ms", None, h50, "<= 1 ms", h50 <= 1)
    row("idle GET /health p95 ms", None, med(rounds, "agency_health", "p95_ms"))
    row("idle GET /tasks?limit=1 p50 ms", None, med(rounds, "agency_list", "p50_ms"))
    row("idle GET /tasks?limit=1 p95 ms", None, med(rounds, "agency_list", "p95_ms"))
    without = med(rounds, "load", "without", "tasks_per_s")
    # each round's pair ran back to back: its ratio is paired, the medians of a noisy
    # machine's rounds are not (one slow round moves only one of the two)
    share = statistics.median(
        r["load"]["with"]["tasks_per_s"] / r["load"]["without"]["tasks_per_s"] for r in rounds
    )
    row(f"burst {sizes.load:,} tasks/s, no side load", None, without)
    row("  with 100 SSE + 20 chat: share (per round)", None, share, ">= 90%", share >= 0.9)
    missed = sum(r["load"]["side"]["snapshots_missed"] for r in rounds)
    row("  metrics snapshots missed (all rounds)", None, missed, "0", missed == 0)
    row("floor: fdatasync of a small append p50 ms", None, med(rounds, "fsync", "p50_ms"))
    row("floor: fdatasync of a small append p95 ms", None, med(rounds, "fsync", "p95_ms"))
    return rows


def fmt(value: float | None) -> str:
    if value is None:
        return "-"
    return (
        f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}" if value < 10 else f"{value:.1f}"
    )


SETUP = (
    "Celery: --pool threads -c 2 (prefetch 4), Redis result backend; agency: agency up "
    "--workers 2 (capacity 4 each, the default); one client each; a/C = agency / Celery"
)


def print_table(rows: list[dict[str, Any]], rounds: list[dict[str, Any]]) -> None:
    print(SETUP)
    print(
        f"\n{'measure (median of ' + str(len(rounds)) + ' rounds)':<46} {'Celery':>8} {'agency':>8} {'a/C':>6}  target"
    )
    for r in rows:
        verdict = "" if r["met"] is None else ("MET" if r["met"] else "MISSED")
        agency = f"{r['agency']:.0%}" if "share" in r["measure"] else fmt(r["agency"])
        ratio = f"{r['ratio']:.2f}" if r["ratio"] is not None else "-"
        print(
            f"{r['measure']:<46} {fmt(r['celery']):>8} {agency:>8} {ratio:>6}  {r['target']} {verdict}"
        )
    chat = [r["load"]["side"]["chat"] for r in rounds]
    print(
        "side load per round: chat replies/sent "
        + ", ".join(f"{c['replies']}/{c['sent']}" for c in chat)
        + "; SSE clients connected "
        + ", ".join(str(r["load"]["side"]["sse_connected"]) for r in rounds)
    )
    print(
        "per round, tasks/s: Celery "
        + " / ".join(fmt(r["celery_burst"]["tasks_per_s"]) for r in rounds)
        + "; agency "
        + " / ".join(fmt(r["agency_burst"]["tasks_per_s"]) for r in rounds)
        + " (filtered "
        + " / ".join(fmt(r["agency_burst_filtered"]["tasks_per_s"]) for r in rounds)
        + ")"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_vs_celery")
    parser.add_argument("--quick", action="store_true", help="Short run, one round.")
    parser.add_argument("--rounds", type=int, default=None, help="Rounds (default 3).")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    rounds_n = args.rounds or (1 if args.quick else 3)
    started = time.monotonic()
    load_before = os.getloadavg()  # a shared machine: how busy it was is part of the figures
    with tempfile.TemporaryDirectory(prefix="bench-vs-celery-") as tmp_name:
        tmp = Path(tmp_name)
        (tmp / "celery").mkdir()
        (tmp / "agency").mkdir()
        celery = celery_side.start(tmp / "celery")
        try:
            up = start_control_plane(tmp / "agency", workers=2, settings=SETTINGS)
            try:
                rounds = [one_round(celery, up.url, up.pid, sizes, tmp, r) for r in range(rounds_n)]
            finally:
                up.stop()
        finally:
            celery_side.stop(celery)
    rows = summarise(rounds, sizes)
    print_table(rows, rounds)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"vs-celery-{datetime.now(UTC):%Y%m%dT%H%M%S}.json"
    out.write_text(
        json.dumps(
            {
                "when": datetime.now(UTC).isoformat(timespec="seconds"),
                "quick": args.quick,
                "seconds": round(time.monotonic() - started),
                "loadavg_before_after": [list(load_before), list(os.getloadavg())],
                "setup": SETUP,
                "rows": rows,
                "rounds": rounds,
            },
            indent=2,
        )
    )
    print(f"load average before / after: {load_before[0]:.1f} / {os.getloadavg()[0]:.1f}")
    print(f"results: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
