"""A control plane without the HTTP API, for crash tests: ``python -m tests.control.control_plane``.

Opens the DuckDB file, recovers, registers the given workers, heartbeats them, submits
``--tasks`` tasks in batches and appends each accepted task id to ``--accepted`` (one line
per id, flushed) once ``submit_many`` has returned: those are the tasks it promised to run.
Then it runs until killed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from pathlib import Path

from agency.control.tasks import Orchestrator
from agency.fleet import Registry
from agency.models import TaskSubmit, WorkerRegistration
from agency.storage import Repositories, Store
from tests.control.harness import Heartbeats, quick_settings


class _Proc:
    """Enough of ``WorkerProc`` for ``Heartbeats``: an id, a URL, always 'alive'."""

    def __init__(self, worker_id: str, url: str) -> None:
        self.worker_id, self.url = worker_id, url

    def alive(self) -> bool:
        return True


async def main(args: argparse.Namespace) -> None:
    settings = quick_settings(Path(args.data))
    store = await Store.open(settings.database_path)
    orch = Orchestrator(settings, Repositories(store), Registry(settings))
    await orch.start()
    procs = []
    for spec in args.worker:
        worker_id, url = spec.split("=", 1)
        procs.append(_Proc(worker_id, url))
        await orch.register_worker(
            WorkerRegistration(
                id=worker_id, url=url, kinds=["noop", "shell"], capacity=args.capacity
            ),
            "test",
        )
    async with Heartbeats(orch, procs, settings.heartbeat_interval):  # type: ignore[arg-type]
        with open(args.accepted, "a") as out:
            for start in range(0, args.tasks, args.batch):
                reqs = [
                    TaskSubmit(kind="noop", spec={"sleep": args.sleep})
                    for _ in range(min(args.batch, args.tasks - start))
                ]
                tasks = await orch.submit_many(reqs, "load")
                out.write("".join(t.id + "\n" for t in tasks))
                out.flush()
                os.fsync(out.fileno())
        await asyncio.Event().wait()  # until SIGKILL


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", required=True)
    parser.add_argument("--accepted", required=True)
    parser.add_argument("--worker", action="append", default=[], help="id=url")
    parser.add_argument("--capacity", type=int, default=4)
    parser.add_argument("--tasks", type=int, default=300)
    parser.add_argument("--batch", type=int, default=10)
    parser.add_argument("--sleep", type=float, default=0.05)
    asyncio.run(main(parser.parse_args()))
