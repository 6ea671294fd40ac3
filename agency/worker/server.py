"""Assemble a worker (runtime, sandbox, control-plane link, ASGI layers) and serve it.

The socket is bound before anything else so ``--port 0`` works: the worker id and the URL it
registers use the port actually bound.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib.util
import logging
import socket
import ssl
from pathlib import Path

import uvicorn
from starlette.types import ASGIApp

from agency import gcpolicy, logs
from agency.models import (
    TASK_KINDS,
    WorkerHeartbeat,
    WorkerRegistration,
    WorkerTLS,
    __version__,
)
from agency.settings import Settings
from agency.worker.app import create_worker_app
from agency.worker.asgi import BearerAuth, FaultDrill
from agency.worker.config import WorkerConfig
from agency.worker.fastpath import TaskFastPath
from agency.worker.link import ControlPlaneLink
from agency.worker.runtime import WorkerRuntime
from agency.worker.sandbox import Sandbox

log = logging.getLogger(__name__)

SHUTDOWN_FLUSH = 2.0


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


class Worker:
    """One worker process: its runtime, its link to the control plane and its ASGI app."""

    def __init__(self, settings: Settings, port: int | None = None) -> None:
        self.config = WorkerConfig.from_settings(settings, port)
        self.config.make_dirs()
        self.sandbox = Sandbox(self.config.roots, settings.sandbox)
        self.link: ControlPlaneLink | None = None
        if self.config.control_plane:
            self.link = ControlPlaneLink(
                self.config.control_plane,
                self.config.token,
                self.registration,
                self.heartbeat,
                settings.heartbeat_interval,
                settings.request_timeout,
            )
        self.runtime = WorkerRuntime(
            self.config, self.sandbox, self.link.report if self.link else None
        )
        self.server: uvicorn.Server | None = None
        self.app = create_worker_app(self.runtime, self._start, self._stop, self.request_exit)

    def registration(self) -> WorkerRegistration:
        return WorkerRegistration(
            id=self.config.id,
            url=self.config.url,
            kinds=list(TASK_KINDS),
            capacity=self.config.capacity,
            labels=self.config.labels,
            version=__version__,
            secret=self.config.secret,
            tls=self_pin(self.config.settings.worker_tls_cert),
        )

    def heartbeat(self) -> WorkerHeartbeat:
        status = self.runtime.status()
        return WorkerHeartbeat(id=self.config.id, running=status.running, draining=status.draining)

    def asgi(self) -> ASGIApp:
        """The app behind its layers: fault drill outermost (it needs uvicorn's own ``send``)."""
        s = self.config.settings
        app: ASGIApp = TaskFastPath(self.app, self.runtime)
        if self.config.token:
            # the control plane presents the secret of the registration, an operator calling
            # the worker directly the token it was started with
            app = BearerAuth(app, self.config.secret, self.config.token)
        drill = FaultDrill(app, s.fault_fail_first, s.fault_latency_ms, s.fault_drop_rate)
        return drill if drill.active else app

    def request_exit(self) -> None:
        if self.server is not None:
            self.server.should_exit = True

    async def _start(self) -> None:
        lost = await self.runtime.recover()
        if self.link:
            await self.link.start()
        log.info(
            "agency worker %s listening on %s (sandbox %s, capacity %d, %d lost after restart)",
            self.config.id,
            self.config.url,
            self.sandbox.kind,
            self.config.capacity,
            len(lost),
        )
        gcpolicy.settle_after_start()

    async def _stop(self) -> None:
        # running tasks must not outlive the worker: cancel them and wait out the kill path
        self.runtime.begin_drain(cancel=True)
        try:
            await asyncio.wait_for(self.runtime.idle.wait(), self.config.settings.cancel_grace + 15)
        except TimeoutError:
            log.error(
                "worker stop: tasks still running after the cancel grace: %s",
                self.runtime.status().running,
            )
        if self.link:
            await self.link.stop(SHUTDOWN_FLUSH)
        gcpolicy.release()


def self_pin(cert_file: str | None) -> WorkerTLS | None:
    """The pin of this worker's own certificate, sent with its registration.

    The registration travels over the control-plane channel, authenticated by the worker
    token, so the control plane learns which certificate to expect from the same party that
    tells it the URL; a certificate presented later that differs is refused.
    """
    if not cert_file:
        return None
    pem = Path(cert_file).read_text()
    der = ssl.PEM_cert_to_DER_cert(pem)
    return WorkerTLS(fingerprint="sha256:" + hashlib.sha256(der).hexdigest())


def serve(settings: Settings) -> None:
    """Run ``agency worker`` until shutdown (SIGINT/SIGTERM or ``POST /shutdown``)."""
    logs.configure(settings.log_level, settings.log_format)
    sock = bind(settings.worker_host, settings.worker_port)
    worker = Worker(settings, port=sock.getsockname()[1])
    config = uvicorn.Config(
        worker.asgi(),
        loop="uvloop" if importlib.util.find_spec("uvloop") else "asyncio",
        http="httptools" if importlib.util.find_spec("httptools") else "h11",
        access_log=False,
        log_level=settings.log_level.lower(),
        log_config=logs.uvicorn_log_config(settings.log_format),
        lifespan="on",
        timeout_graceful_shutdown=int(settings.cancel_grace) + 20,
        ssl_certfile=settings.worker_tls_cert,
        ssl_keyfile=settings.worker_tls_key,
    )
    worker.server = uvicorn.Server(config)
    worker.server.run(sockets=[sock])
