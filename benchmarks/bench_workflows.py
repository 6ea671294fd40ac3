"""Workflows: ``python -m benchmarks.bench_workflows [--quick] [--runs N]``.

A real control plane (``agency.testing.serve``: uvicorn and the ``ControlPlane`` in this
process, on their own event loop, over a DuckDB file) with two real local workers.

1. Step transition cost: runs of 10 noop steps in a chain, one run at a time (nothing else
   competes), timing the engine's ``advance`` of each run after each of its tasks ended,
   divided by the transitions it made (finishing a step, deciding and submitting the next:
   one checkpoint each, with its event). Also the durable checkpoint write alone.
   Target: p50 < 5 ms.
2. Throughput: ``--runs`` concurrent runs of 10 chained noop steps (10 x runs tasks) against
   the same number of plain noop tasks submitted at once, each from the first submit until
   the last is final. Target: the workflow rate within 2x of the plain one.

    python -m benchmarks.bench_workflows            # 1,000 runs vs 10,000 tasks
    python -m benchmarks.bench_workflows --quick    # 100 runs vs 1,000 tasks

Prints a table and writes ``benchmarks/results/bench_workflows.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from agency.control.workflows import WorkflowEngine
from agency.models import TaskSubmit
from agency.models.workflows import RunState, WorkflowSpec
from agency.testing import Stack, serve

RESULTS = Path(__file__).parent / "results"
STEPS = 10
CAPACITY = 64  # per worker: the benchmark measures the control plane, not the workers
SUBMIT_CHUNK = 500


def chain(name: str) -> WorkflowSpec:
    steps: list[dict[str, Any]] = [{"id": "s0", "task": {"kind": "noop"}}]
    steps += [
        {"id": f"s{i}", "needs": [f"s{i - 1}"], "task": {"kind": "noop"}} for i in range(1, STEPS)
    ]
    return WorkflowSpec.model_validate({"name": name, "steps": steps})


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


class Timings:
    """Per ``advance``, divided by the transitions it made: wall time, and CPU time of the
    event loop's thread (what the control plane spends; the wall time also holds the waits
    for durable writes and for the orchestrator's own write of the next step's task)."""

    def __init__(self, engine: WorkflowEngine) -> None:
        self.wall: list[float] = []
        self.cpu: list[float] = []
        self.flushes: list[float] = []
        self.count = 0
        advance, save, flush = engine.advance, engine.save, engine.flush

        async def timed_save(*args: Any, **kw: Any) -> None:
            await save(*args, **kw)
            self.count += 1

        async def timed_flush(run_id: str) -> None:
            t = time.perf_counter()
            await flush(run_id)
            self.flushes.append(time.perf_counter() - t)

        async def timed_advance(run_id: str) -> None:
            before, t, c = self.count, time.perf_counter(), time.thread_time()
            await advance(run_id)
            made = self.count - before
            if made:
                self.wall.append((time.perf_counter() - t) / made)
                self.cpu.append((time.thread_time() - c) / made)

        engine.save = timed_save  # type: ignore[method-assign]
        engine.flush = timed_flush  # type: ignore[method-assign]
        engine.advance = timed_advance  # type: ignore[method-assign]


async def transitions(stack: Stack, runs: int) -> dict[str, Any]:
    wf = stack.plane.workflows
    t = Timings(wf.engine)
    for i in range(runs):
        run = await wf.submit(chain(f"cost-{i}"), "bench")
        await wf.engine.wait(run.id, 60)
    return {
        "runs": runs,
        "transitions": t.count,
        "transition_cpu_p50_ms": statistics.median(t.cpu) * 1000,
        "transition_cpu_p95_ms": pct(t.cpu, 0.95) * 1000,
        "transition_wall_p50_ms": statistics.median(t.wall) * 1000,
        "transition_wall_p95_ms": pct(t.wall, 0.95) * 1000,
        "checkpoint_flush_p50_ms": statistics.median(t.flushes) * 1000,
    }


async def workflow_rate(stack: Stack, runs: int) -> dict[str, Any]:
    wf = stack.plane.workflows
    t0 = time.perf_counter()
    made = []
    for start in range(0, runs, SUBMIT_CHUNK):  # as many clients would, side by side
        n = min(SUBMIT_CHUNK, runs - start)
        made += await asyncio.gather(
            *(wf.submit(chain(f"load-{start + i}"), "bench") for i in range(n))
        )
    await asyncio.gather(*(wf.engine.wait(r.id, 600) for r in made))
    took = time.perf_counter() - t0
    states = [(await wf.get(r.id)).state for r in made]
    return {
        "runs": runs,
        "tasks": runs * STEPS,
        "seconds": took,
        "tasks_per_s": runs * STEPS / took,
        "succeeded": sum(s is RunState.SUCCEEDED for s in states),
    }


async def plain_rate(stack: Stack, tasks: int) -> dict[str, Any]:
    orch = stack.plane.tasks
    t0 = time.perf_counter()
    ids: list[str] = []
    for start in range(0, tasks, SUBMIT_CHUNK):
        n = min(SUBMIT_CHUNK, tasks - start)
        made = await orch.submit_many([TaskSubmit(kind="noop") for _ in range(n)], "bench")
        ids += [t.id for t in made]
    while True:
        await orch.run_burst(600)
        if all(t is None or t.state.terminal for t in (orch.book.latest(i) for i in ids)):
            break
    took = time.perf_counter() - t0
    return {"tasks": tasks, "seconds": took, "tasks_per_s": tasks / took}


def run_on(stack: Stack, make: Callable[[], Awaitable[dict[str, Any]]]) -> dict[str, Any]:
    return stack.call(make, timeout=3600)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_workflows")
    parser.add_argument("--quick", action="store_true", help="100 runs vs 1,000 tasks.")
    parser.add_argument("--runs", type=int, default=None, help="Concurrent runs (phase 2).")
    parser.add_argument("--cost-runs", type=int, default=30, help="Runs timed one by one.")
    args = parser.parse_args(argv)
    runs = args.runs or (100 if args.quick else 1000)
    with tempfile.TemporaryDirectory(prefix="bench-wf-") as tmp, serve(Path(tmp) / "cp") as s:
        for i in range(2):
            s.add_worker(Path(tmp) / f"w{i}", capacity=CAPACITY, sandbox="off")
        cost = run_on(s, lambda: transitions(s, args.cost_runs))
        plain = run_on(s, lambda: plain_rate(s, runs * STEPS))
        flows = run_on(s, lambda: workflow_rate(s, runs))
    ratio = plain["tasks_per_s"] / flows["tasks_per_s"]
    result = {
        "machine": platform.node(),
        "python": platform.python_version(),
        "cost": cost,
        "plain": plain,
        "workflows": flows,
        "plain_over_workflows": ratio,
        "targets": {
            "transition_cpu_p50_ms<5": cost["transition_cpu_p50_ms"] < 5,
            "ratio<=2": ratio <= 2,
        },
    }
    print(
        f"step transition, CPU:  p50 {cost['transition_cpu_p50_ms']:.2f} ms, p95 "
        f"{cost['transition_cpu_p95_ms']:.2f} ms over {cost['transitions']} transitions"
    )
    print(
        f"step transition, wall: p50 {cost['transition_wall_p50_ms']:.2f} ms, p95 "
        f"{cost['transition_wall_p95_ms']:.2f} ms (checkpoints durable: p50 "
        f"{cost['checkpoint_flush_p50_ms']:.2f} ms)"
    )
    print(
        f"plain noop tasks:  {plain['tasks']:>6} in {plain['seconds']:.1f} s = "
        f"{plain['tasks_per_s']:.0f} tasks/s"
    )
    print(
        f"workflow steps:    {flows['tasks']:>6} in {flows['seconds']:.1f} s = "
        f"{flows['tasks_per_s']:.0f} tasks/s ({flows['runs']} runs of {STEPS}, "
        f"{flows['succeeded']} succeeded)"
    )
    print(f"plain / workflows: {ratio:.2f}x (target <= 2x)")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "bench_workflows.json").write_text(json.dumps(result, indent=2))
    return 0 if all(result["targets"].values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
