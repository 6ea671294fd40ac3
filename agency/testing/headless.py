"""A control plane without the HTTP API, for crash tests: ``python -m agency.testing.headless``.

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
from agency.testing.orchestrator import Heartbeats, Member, quick_settings

__all__ = ["Remote", "main", "parser"]


class Remote:
    """A worker started by someone else: an id and a URL, always taken to be alive."""

    def __init__(self, worker_id: str, url: str) -> None:
        self.worker_id, self.url = worker_id, url

    def alive(self) -> bool:
        return True


async def main(args: argparse.Namespace) -> None:
    """Run the control plane the arguments describe, until the process is killed."""
    settings = quick_settings(Path(args.data))
    store = await Store.open(settings.database_path)
    orch = Orchestrator(settings, Repositories(store), Registry(settings))
    await orch.start()
    members: list[Member] = []
    for spec in args.worker:
        worker_id, url = spec.split("=", 1)
        members.append(Remote(worker_id, url))
        await orch.register_worker(
            WorkerRegistration(
                id=worker_id, url=url, kinds=["noop", "shell"], capacity=args.capacity
            ),
            "test",
        )
    async with Heartbeats(orch, members, settings.heartbeat_interval):
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


def parser() -> argparse.ArgumentParser:
    """The command line of ``python -m agency.testing.headless``."""
    p = argparse.ArgumentParser(prog="python -m agency.testing.headless")
    p.add_argument("--data", required=True)
    p.add_argument("--accepted", required=True)
    p.add_argument("--worker", action="append", default=[], help="id=url")
    p.add_argument("--capacity", type=int, default=4)
    p.add_argument("--tasks", type=int, default=300)
    p.add_argument("--batch", type=int, default=10)
    p.add_argument("--sleep", type=float, default=0.05)
    return p


if __name__ == "__main__":
    asyncio.run(main(parser().parse_args()))
