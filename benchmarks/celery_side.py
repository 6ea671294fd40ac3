"""Celery's side of ``bench_vs_celery``: a private Redis, one Celery worker, and the measures.

Redis runs on a free 127.0.0.1 port with persistence off (``--save '' --appendonly no``) in a
temporary directory; the worker is ``celery -A benchmarks.celery_noop worker --pool threads
-c 2``, as the issue prescribes. The client is a separate Celery app without a result backend
(so ``send_task`` does not subscribe to each task's result behind the client's back); it
publishes on one producer connection.

Completion is read as a stream, like agency's SSE: a Redis ``PSUBSCRIBE
celery-task-meta-*`` in a thread of the client. The Redis result backend stores each result
and publishes it on that channel in the same pipeline (what ``AsyncResult.get()`` waits on),
so a task counts as done when its result is stored and the client has been told: the
equivalent of agency's final event, durable in its store and pushed over SSE.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import redis
from celery import Celery

from agency.testing import free_port
from benchmarks.bench_api import pct

ROOT = Path(__file__).resolve().parent.parent
CHANNELS = "celery-task-meta-*"
START_TIMEOUT = 60.0


@dataclass
class CelerySystem:
    """A running Redis and Celery worker, and the client app that submits to them."""

    redis_url: str
    redis_proc: subprocess.Popen[bytes]
    worker_proc: subprocess.Popen[bytes]
    client: Celery
    pids: list[int] = field(default_factory=list)  # worker and Redis: whose CPU is counted


def start_redis(tmp: Path) -> tuple[subprocess.Popen[bytes], str]:
    exe = shutil.which("redis-server")
    if exe is None:
        raise RuntimeError("redis-server is not installed: run `make bench-deps`")
    port = free_port()
    workdir = tmp / "redis"
    workdir.mkdir()
    proc = subprocess.Popen(
        [
            exe,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
            "--daemonize",
            "no",
            "--loglevel",
            "warning",
        ],
        stdout=(workdir / "redis.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if redis.Redis.from_url(url, socket_timeout=1).ping():
                return proc, url
        except redis.RedisError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("redis-server did not start:\n" + (workdir / "redis.log").read_text())


def start(tmp: Path) -> CelerySystem:
    """Redis, then the worker; returns once a first task went through the whole path."""
    redis_proc, url = start_redis(tmp)
    env = {**os.environ, "BENCH_REDIS_URL": url, "PYTHONPATH": str(ROOT)}
    log = (tmp / "celery.log").open("wb")
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "benchmarks.celery_noop",
            "worker",
            "--pool",
            "threads",
            "-c",
            "2",
            "-l",
            "WARNING",
            "-n",
            f"bench-{os.getpid()}@localhost",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    client = Celery("bench-client", broker=url)
    client.conf.update(task_serializer="json", broker_connection_retry_on_startup=True)
    system = CelerySystem(url, redis_proc, worker, client, [worker.pid, redis_proc.pid])
    try:
        started = burst(system, 1, batch=1, timeout=START_TIMEOUT)["done"] == 1
    except Exception:
        started = False
    if not started:
        stop(system)
        raise RuntimeError("the Celery worker did not start:\n" + (tmp / "celery.log").read_text())
    return system


def stop(system: CelerySystem) -> None:
    for proc in (system.worker_proc, system.redis_proc):
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


class Completions:
    """Arrival time of each task's stored result, from the backend's publications."""

    def __init__(self, url: str) -> None:
        self.pubsub = redis.Redis.from_url(url).pubsub(ignore_subscribe_messages=False)
        self.done: dict[str, float] = {}
        self.failed = 0
        self.expected: set[str] = set()
        self.all_done = threading.Event()
        self._stop = threading.Event()
        self._subscribed = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Completions:
        self.pubsub.psubscribe(CHANNELS)
        self._thread.start()
        if not self._subscribed.wait(10):
            raise RuntimeError("no PSUBSCRIBE confirmation from Redis")
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self.pubsub.close()

    def expect(self, ids: set[str]) -> None:
        self.expected = ids
        if ids <= self.done.keys():
            self.all_done.set()

    def _run(self) -> None:
        prefix = len(CHANNELS) - 1
        while not self._stop.is_set():
            msg = self.pubsub.get_message(timeout=0.1)
            if msg is None:
                continue
            if msg["type"] == "psubscribe":
                self._subscribed.set()
                continue
            if msg["type"] != "pmessage":
                continue
            now = time.perf_counter()
            task_id = msg["channel"].decode()[prefix:]
            if json.loads(msg["data"]).get("status") != "SUCCESS":
                self.failed += 1
            self.done.setdefault(task_id, now)
            if self.expected and task_id in self.expected and self.expected <= self.done.keys():
                self.all_done.set()


@contextmanager
def cpu_of(pids: list[int]) -> Iterator[dict[str, float]]:
    """CPU seconds the processes used inside the block (``out["cpu_s"]``)."""
    procs = [psutil.Process(p) for p in pids]
    before = [p.cpu_times() for p in procs]
    out: dict[str, float] = {}
    yield out
    after = [p.cpu_times() for p in procs]
    out["cpu_s"] = sum(
        a.user + a.system - b.user - b.system for a, b in zip(after, before, strict=True)
    )


def burst(system: CelerySystem, tasks: int, batch: int, timeout: float) -> dict[str, Any]:
    """``tasks`` no-ops published in batches of ``batch`` on one producer; tasks/s from the
    first publish until the last result is stored and announced."""
    ids = [str(uuid.uuid4()) for _ in range(tasks)]
    with Completions(system.redis_url) as seen, cpu_of(system.pids) as cpu:
        t0 = time.perf_counter()
        for start_at in range(0, tasks, batch):
            with system.client.producer_or_acquire() as producer:
                for task_id in ids[start_at : start_at + batch]:
                    system.client.send_task("noop", task_id=task_id, producer=producer)
        submitted = time.perf_counter() - t0
        seen.expect(set(ids))
        seen.all_done.wait(timeout)
        done = [seen.done[i] for i in ids if i in seen.done]
        elapsed = (max(done) if done else time.perf_counter()) - t0
    return {
        "tasks": tasks,
        "done": len(done),
        "failed": seen.failed,
        "submit_s": round(submitted, 3),
        "elapsed_s": round(elapsed, 3),
        "tasks_per_s": round(len(done) / elapsed, 1),
        "cpu_ms_per_task": round(1000 * cpu["cpu_s"] / max(1, len(done)), 3),
    }


def paced(system: CelerySystem, rate: float, seconds: float) -> dict[str, Any]:
    """One client publishing ``rate`` tasks/s on a fixed schedule; latency from the publish
    call until the client holds the stored result's announcement."""
    count = int(rate * seconds)
    ids = [str(uuid.uuid4()) for _ in range(count)]
    sent: dict[str, float] = {}
    with Completions(system.redis_url) as seen, system.client.producer_or_acquire() as producer:
        start_at = time.perf_counter()
        for i, task_id in enumerate(ids):
            delay = start_at + i / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            sent[task_id] = time.perf_counter()
            system.client.send_task("noop", task_id=task_id, producer=producer)
        seen.expect(set(ids))
        seen.all_done.wait(max(30.0, seconds * 3))
        lat = [(seen.done[i] - sent[i]) * 1000 for i in ids if i in seen.done]
    return latency_summary(lat, count)


def publish_latency(system: CelerySystem, count: int, gap: float) -> dict[str, Any]:
    """An idle ``send_task`` (the broker has the message when it returns): Celery's nearest
    equivalent of one ``POST /api/v1/tasks``."""
    lat: list[float] = []
    with system.client.producer_or_acquire() as producer:
        for _ in range(count):
            t0 = time.perf_counter()
            system.client.send_task("noop", producer=producer)
            lat.append((time.perf_counter() - t0) * 1000)
            time.sleep(gap)
    return latency_summary(lat, count)


def latency_summary(lat: list[float], sent: int) -> dict[str, Any]:
    return {
        "sent": sent,
        "done": len(lat),
        "p50_ms": round(statistics.median(lat), 3) if lat else None,
        "p95_ms": round(pct(lat, 0.95), 3) if lat else None,
        "max_ms": round(max(lat), 3) if lat else None,
    }
