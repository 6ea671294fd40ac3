"""Schedules at scale: ``python -m benchmarks.bench_schedules [--quick]``.

10,000 schedules (``* * * * *``, a noop task each) on ``agency up`` with two local workers,
created through the API, then watched for three minute slots. Every figure comes from the
real service (its own process and event loop, as in production) and is read back through
the API (fires and tasks by read-only SQL); nothing is measured in this process except the
control plane's CPU time, read from ``/proc`` by psutil.

1. Lateness of each fire, as the scheduler records it: ``fired_at - slot``, when it decided
   the slot (target p95 < 100 ms).
2. Slot -> task created: when each fire's task existed (the decisions of one slot are
   recorded in one write, then the tasks submitted 1,000 to a transaction); shown beside
   (1), no target of its own.
3. Idle CPU between fires: the control plane's CPU time per second of wall time from one
   minute's burst being over (its last task finished, plus a second) to a second before the
   next slot, as % of one core (target < 2%). Also the CPU the whole minute took, and for
   reference the same control plane's idle CPU before any schedule existed.

    python -m benchmarks.bench_schedules            # 10,000 schedules, 3 slots
    python -m benchmarks.bench_schedules --quick    # 1,000 schedules, 2 slots

Prints a table and writes ``benchmarks/results/bench_schedules.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import psutil

from agency.client import AgencyClient, AsyncAgencyClient
from benchmarks.bench_api import SETTINGS, TOKEN, start_control_plane, stop

RESULTS = Path(__file__).parent / "results"
CREATORS = 16  # concurrent API clients creating the schedules
SAMPLE_S = 0.25  # how often the control plane's CPU time is read
BASELINE_S = 20.0  # idle time measured before the schedules are created
ENV = {
    **SETTINGS,
    "AGENCY_QUERY_ROW_CAP": "1000000",  # the read-back of every fire in one query
    "AGENCY_QUERY_TIMEOUT": "120",
}
FIRES_SQL = """
SELECT f.slot, f.fired_at, f.lateness, t.created_at AS task_created,
       t.finished_at AS task_finished, t.state
FROM schedule_fires AS f JOIN tasks AS t ON t.id = f.task_id
WHERE NOT f.manual AND f.slot >= CAST($first AS TIMESTAMPTZ) AND f.slot <= CAST($last AS TIMESTAMPTZ)
"""


class CpuSampler(threading.Thread):
    """The control plane's CPU seconds (user + system, its own process only), sampled."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.proc = psutil.Process(pid)
        self.samples: list[tuple[datetime, float]] = []
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            t = self.proc.cpu_times()
            self.samples.append((datetime.now(UTC), t.user + t.system))
            self.done.wait(SAMPLE_S)

    def timeline(self, start: datetime, seconds: int, step: int = 5) -> list[float | None]:
        """CPU % of one core in each ``step``-second piece of ``seconds`` from ``start``."""
        pieces = []
        for k in range(0, seconds, step):
            a = start + timedelta(seconds=k)
            r = self.rate(a, a + timedelta(seconds=step))
            pieces.append(None if r is None else round(100 * r, 1))
        return pieces

    def rate(self, start: datetime, end: datetime) -> float | None:
        """CPU seconds per wall second between two instants (``None``: too short a window)."""
        inside = [(t, c) for t, c in self.samples if start <= t <= end]
        if len(inside) < 2 or (inside[-1][0] - inside[0][0]).total_seconds() < 0.9:
            return None
        (t0, c0), (t1, c1) = inside[0], inside[-1]
        return (c1 - c0) / (t1 - t0).total_seconds()


async def create(url: str, count: int) -> float:
    """``count`` schedules by ``CREATORS`` concurrent clients; returns the seconds it took."""
    names = iter(range(count))
    began = time.perf_counter()

    async def creator() -> None:
        async with AsyncAgencyClient(url, TOKEN, timeout=120) as client:
            for i in names:
                await client.create_schedule(f"bench-{i:05d}", "* * * * *", {"kind": "noop"})

    await asyncio.gather(*(creator() for _ in range(CREATORS)))
    return time.perf_counter() - began


def next_minute(t: datetime) -> datetime:
    return t.replace(second=0, microsecond=0) + timedelta(minutes=1)


def sleep_until(t: datetime) -> None:
    time.sleep(max(0.0, (t - datetime.now(UTC)).total_seconds()))


def pct(series: pd.Series, q: float) -> float:
    return float(series.quantile(q))


def measure(count: int, slots: int, tmp: Path) -> dict[str, Any]:
    proc, url = start_control_plane(tmp, workers=2, settings=ENV)
    sampler = CpuSampler(proc.pid)
    try:
        sampler.start()
        time.sleep(BASELINE_S)
        baseline = sampler.rate(
            datetime.now(UTC) - timedelta(seconds=BASELINE_S - 2), datetime.now(UTC)
        )
        create_s = asyncio.run(create(url, count))
        first = next_minute(datetime.now(UTC))  # every schedule exists before this slot
        last = first + timedelta(minutes=slots - 1)
        sleep_until(last + timedelta(seconds=59))  # the last minute's burst and idle gap
        sampler.done.set()
        with AgencyClient(url, TOKEN, timeout=300) as client:
            fires = client.query(FIRES_SQL, {"first": first, "last": last}, arrow=True)
    finally:
        stop(proc)
    for col in ("slot", "fired_at", "task_created", "task_finished"):
        fires[col] = pd.to_datetime(fires[col], utc=True)
    fires["created_lag"] = (fires["task_created"] - fires["slot"]).dt.total_seconds()
    minutes = []
    for k in range(slots):
        slot = first + timedelta(minutes=k)
        mine = fires[fires["slot"] == pd.Timestamp(slot)]
        finished = mine["task_finished"].max() if len(mine) else pd.NaT
        burst_end = finished.to_pydatetime() if not pd.isna(finished) else slot
        idle = sampler.rate(burst_end + timedelta(seconds=1), slot + timedelta(seconds=59))
        whole = sampler.rate(slot, slot + timedelta(seconds=59))
        minutes.append(
            {
                "slot": slot.isoformat(),
                "fires": len(mine),
                "all_finished": bool(len(mine)) and bool((mine["state"] == "succeeded").all()),
                "burst_s": round((burst_end - slot).total_seconds(), 2),
                "idle_cpu_pct": None if idle is None else round(100 * idle, 2),
                "minute_cpu_pct": None if whole is None else round(100 * whole, 2),
                "cpu_pct_per_5s": sampler.timeline(slot, 60),
            }
        )
    idle_rates = [m["idle_cpu_pct"] for m in minutes if m["idle_cpu_pct"] is not None]
    return {
        "schedules": count,
        "slots": slots,
        "create_s": round(create_s, 1),
        "fires": len(fires),
        "expected_fires": count * slots,
        "lateness_ms": {
            "p50": round(1000 * pct(fires["lateness"], 0.5), 2),
            "p95": round(1000 * pct(fires["lateness"], 0.95), 2),
            "max": round(1000 * float(fires["lateness"].max()), 2),
        },
        "slot_to_task_created_ms": {
            "p50": round(1000 * pct(fires["created_lag"], 0.5), 1),
            "p95": round(1000 * pct(fires["created_lag"], 0.95), 1),
            "max": round(1000 * float(fires["created_lag"].max()), 1),
        },
        "minutes": minutes,
        "idle_cpu_pct": max(idle_rates) if idle_rates else None,
        "baseline_idle_cpu_pct": None if baseline is None else round(100 * baseline, 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_schedules")
    parser.add_argument("--quick", action="store_true", help="1,000 schedules, 2 slots.")
    args = parser.parse_args(argv)
    count, slots = (1_000, 2) if args.quick else (10_000, 3)
    with tempfile.TemporaryDirectory() as tmp:
        result = measure(count, slots, Path(tmp))
    late, lag = result["lateness_ms"], result["slot_to_task_created_ms"]
    ok_late = result["fires"] == result["expected_fires"] and late["p95"] < 100
    idle = result["idle_cpu_pct"]
    ok_idle = idle is not None and idle < 2.0
    print(f"{'measure (agency up, 2 local workers)':<58} {'value':>22}  target")
    print(f"{'schedules created through the API':<58} {result['create_s']:>20} s")
    print(f"{'fires decided / expected':<58} {result['fires']:>10} / {result['expected_fires']:<9}")
    print(
        f"{'lateness fired_at - slot: p50 / p95 / max ms':<58} "
        f"{late['p50']:>6} / {late['p95']} / {late['max']}  p95 < 100 ms "
        f"{'ok' if ok_late else 'MISSED'}"
    )
    print(
        f"{'slot -> task created: p50 / p95 / max ms':<58} "
        f"{lag['p50']:>6} / {lag['p95']} / {lag['max']}"
    )
    for m in result["minutes"]:
        print(
            f"{'  minute ' + m['slot'][11:16] + ': burst s, idle CPU %, minute CPU %':<58} "
            f"{m['burst_s']:>6} / {m['idle_cpu_pct']} / {m['minute_cpu_pct']}"
            + ("" if m["all_finished"] else "  (not every task succeeded)")
        )
    print(
        f"{'idle CPU between fires, worst minute (% of one core)':<58} {idle!s:>22}  < 2% "
        f"{'ok' if ok_idle else 'MISSED'}"
    )
    print(
        f"{'  the same control plane idle before any schedule':<58} "
        f"{result['baseline_idle_cpu_pct']!s:>22}"
    )
    RESULTS.mkdir(exist_ok=True)
    record = {
        "when": datetime.now(UTC).isoformat(),
        "machine": {"cpus": psutil.cpu_count(), "python": platform.python_version()},
        "load_average": list(psutil.getloadavg()),
        **result,
    }
    (RESULTS / "bench_schedules.json").write_text(json.dumps(record, indent=2))
    return 0 if ok_late and ok_idle else 1


if __name__ == "__main__":
    raise SystemExit(main())
