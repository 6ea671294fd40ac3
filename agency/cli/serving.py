"""The uvicorn server ``agency up`` runs the API on, imported when the command runs.

uvicorn (with uvloop and httptools) is kept out of ``agency.cli.up``'s imports: every
``agency ...`` command imports that module to build the CLI, and ``agency --help`` must not
pay for a web server (start-up time, benchmarks/bench_cli).
"""

from __future__ import annotations

import asyncio

import uvicorn


class Server(uvicorn.Server):
    """uvicorn's server; ``started_event`` replaces polling ``started``."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.started_event = asyncio.Event()

    async def startup(self, sockets: list | None = None) -> None:  # type: ignore[type-arg]
        await super().startup(sockets)
        if self.started:
            self.started_event.set()
