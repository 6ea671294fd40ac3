"""The Celery application ``bench_vs_celery`` starts its worker on:
``celery -A benchmarks.celery_noop worker --pool threads -c 2``.

Broker and result backend are the Redis the benchmark started (``BENCH_REDIS_URL``). The
result backend stores every task's result and publishes it on ``celery-task-meta-<id>``;
the benchmark reads completion from those publications (see ``celery_side``).
"""

from __future__ import annotations

import os

from celery import Celery

app = Celery(
    "bench",
    broker=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"),
    backend=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"),
)
app.conf.update(
    worker_hijack_root_logger=False,
    broker_connection_retry_on_startup=True,
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
)


@app.task(name="noop")
def noop() -> None:
    """Does nothing: the benchmark measures the queue, not the work."""
