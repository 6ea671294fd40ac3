"""Agent transcripts at 10,000 lines: ``python -m benchmarks.bench_transcripts [--quick]``.

``agency up`` with one local worker runs a fake Claude (``transcript_claude.py``) that prints
a stream-json transcript of 10,000 lines at 500 lines a second; the worker parses it, the
control plane copies it live (every ``AGENCY_TRANSCRIPT_POLL_INTERVAL``) and stores it.

1. Control-plane CPU for one transcript: its CPU time (psutil, ``/proc``) from submit to the
   task's end, minus its idle CPU over the same wall time measured just before (target
   < 1 s). Run once with nobody watching, once with the dashboard following.
2. Follow latency in the dashboard: the drill-down's own data path
   (``agency_dashboards.data.conversation.load``, what the conversation tab calls every
   500 ms tick while a task runs) polled at the dashboard's tick; for every line, the time it
   first shows there minus the time the fake CLI printed it (target p95 < 2 s).

    python -m benchmarks.bench_transcripts           # 10,000 lines
    python -m benchmarks.bench_transcripts --quick   # 2,000 lines

Prints a table and writes ``benchmarks/results/bench_transcripts.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil

from agency.client import AgencyClient
from agency.testing import start_control_plane
from agency_dashboards.data import conversation
from benchmarks.bench_api import SETTINGS, TOKEN, pct

RESULTS = Path(__file__).parent / "results"
FAKE = Path(__file__).with_name("transcript_claude.py")
TICK_S = 0.5  # the dashboard's tick (dashboards/shell.py TICK_MS)
RATE = 500.0  # lines a second the fake prints (a busy agent prints far fewer)


def _cpu(proc: psutil.Process) -> float:
    t = proc.cpu_times()
    return float(t.user + t.system)


def _idle_cpu_per_s(proc: psutil.Process, seconds: float) -> float:
    before, start = _cpu(proc), time.monotonic()
    time.sleep(seconds)
    return (_cpu(proc) - before) / (time.monotonic() - start)


class Follower(threading.Thread):
    """The dashboard's drill-down following one task: ``conversation.load`` every tick."""

    def __init__(self, url: str, task_id: str) -> None:
        super().__init__(daemon=True)
        self.url, self.task_id = url, task_id
        self.first_seen: dict[int, float] = {}
        self.emitted: dict[int, float] = {}
        self.load_s: list[float] = []
        self.done = threading.Event()

    def run(self) -> None:
        with AgencyClient(self.url, TOKEN) as client:
            while not self.done.is_set():
                began = time.monotonic()
                view = conversation.load(client, self.task_id, with_changes=False)
                now = time.time()
                self.load_s.append(time.monotonic() - began)
                for entry in view.entries:
                    if entry.seq not in self.first_seen and entry.text.startswith("emitted="):
                        self.first_seen[entry.seq] = now
                        self.emitted[entry.seq] = float(entry.text.split()[0].split("=")[1])
                time.sleep(max(0.0, TICK_S - (time.monotonic() - began)))

    def latencies(self) -> list[float]:
        return [self.first_seen[s] - self.emitted[s] for s in self.first_seen]


def one_run(url: str, proc: psutil.Process, follow: bool) -> dict[str, Any]:
    idle = _idle_cpu_per_s(proc, 5.0)
    with AgencyClient(url, TOKEN) as client:
        before, start = _cpu(proc), time.monotonic()
        task = client.submit("agent", {"prompt": "bench", "runtime": "claude"})
        follower = Follower(url, task.id) if follow else None
        if follower is not None:
            follower.start()
        done = client.wait(task.id, timeout=600)
        items = len(client.transcript(task.id).items)
        wall = time.monotonic() - start
        cpu = _cpu(proc) - before
    out: dict[str, Any] = {
        "follow": follow,
        "state": done.state.value,
        "items_stored": items,
        "wall_s": round(wall, 2),
        "cp_cpu_s": round(cpu, 3),
        "cp_idle_cpu_s": round(idle * wall, 3),
        "cp_cpu_for_transcript_s": round(cpu - idle * wall, 3),
    }
    if follower is not None:
        time.sleep(2 * TICK_S)  # the last tick sees the last lines
        follower.done.set()
        follower.join(timeout=60)
        lat = follower.latencies()
        out.update(
            lines_seen=len(lat),
            latency_p50_s=round(pct(lat, 0.5), 3) if lat else None,
            latency_p95_s=round(pct(lat, 0.95), 3) if lat else None,
            latency_max_s=round(max(lat), 3) if lat else None,
            load_p50_s=round(pct(follower.load_s, 0.5), 3),
            load_max_s=round(max(follower.load_s), 3),
        )
    return out


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="bench_transcripts")
    ap.add_argument("--quick", action="store_true", help="2,000 lines instead of 10,000")
    args = ap.parse_args(argv)
    lines = 2000 if args.quick else 10_000
    env = {
        **SETTINGS,
        "AGENCY_AGENT_RUNTIME": "claude",
        "AGENCY_CLAUDE_BIN": f"{sys.executable} {FAKE} {lines} {RATE}",
    }
    with tempfile.TemporaryDirectory() as tmp:
        up = start_control_plane(Path(tmp), workers=1, settings=env)
        try:
            proc = psutil.Process(up.pid)
            runs = [one_run(up.url, proc, follow=False), one_run(up.url, proc, follow=True)]
        finally:
            up.stop(grace=30)
    report = {
        "lines": lines,
        "lines_per_s": RATE,
        "runs": runs,
        "machine": {"cpus": psutil.cpu_count(), "python": platform.python_version()},
        "load_average": list(psutil.getloadavg()),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "bench_transcripts.json").write_text(json.dumps(report, indent=2))
    for run in runs:
        print(json.dumps(run))
    store, watched = runs
    ok = (
        store["items_stored"] == lines
        and store["cp_cpu_for_transcript_s"] < 1.0
        and (watched.get("latency_p95_s") or 99) < 2.0
    )
    print("targets met" if ok else "targets NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
