"""``agency up``: the control plane (FastAPI on uvicorn), local workers and the dashboard.

Shutdown order on Ctrl-C / SIGTERM: the control plane stops first (no more dispatches; the
orchestrator leaves in-flight tasks recorded as such, so the next start recovers them), then
the workers and the dashboard get SIGTERM (SIGKILL after a grace period). Children run in
their own sessions so a terminal's Ctrl-C reaches only this process and the order holds; on
Linux they also get SIGTERM should this process die without cleaning up.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import importlib.util
import logging
import os
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import typer

import agency_dashboards  # the default dashboard (see DEFAULT_DASHBOARD_APP)
from agency import gcpolicy, logs
from agency.errors import AgencyError, ConfigError
from agency.models import Role
from agency.settings import Settings

if TYPE_CHECKING:
    from agency.control import ControlPlane

# agency.api (FastAPI, storage, DuckDB, pandas) is imported by the functions that use it, when
# the command runs: every `agency ...` command imports this module to build the CLI, and
# `agency --help` must not pay for the control plane (start-up time, benchmarks/bench_cli).

app = typer.Typer(help="Start the control plane, local workers and the dashboard.")
log = logging.getLogger("agency.up")

STOP_GRACE = 25.0  # seconds a child gets after SIGTERM before SIGKILL
START_TIMEOUT = 60.0


def _die_with_parent() -> None:
    # runs in the child between fork and exec: only an async-signal-safe libc call
    if _LIBC is not None:
        with contextlib.suppress(Exception):
            _LIBC.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


_LIBC = ctypes.CDLL(None) if sys.platform.startswith("linux") else None


def _uvloop_run() -> Any:
    """``uvloop.run`` where uvicorn[standard] brought it (not on Windows), else ``None``;
    imported when ``up`` runs (it costs ``agency --help`` 0.1-0.5 s)."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.run


def local_url(host: str, port: int) -> str:
    """How local processes reach a server bound to ``host``."""
    from agency.api.auth import is_loopback

    if host in ("0.0.0.0", "::", "") or is_loopback(host):
        return f"http://127.0.0.1:{port}"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


#: What ``agency up`` serves unless ``AGENCY_DASHBOARD_APP`` says otherwise: the app.py of the
#: installed ``agency_dashboards`` package, i.e. the repo's dashboards/app.py (setup.py maps it).
DEFAULT_DASHBOARD_APP = Path(agency_dashboards.__file__).with_name("app.py")


def dashboard_app(settings: Settings) -> Path:
    """The Panel app to serve: ``settings.dashboard_app``, else ``DEFAULT_DASHBOARD_APP``."""
    path = settings.dashboard_app or DEFAULT_DASHBOARD_APP
    if not path.is_file():
        raise ConfigError(f"AGENCY_DASHBOARD_APP: {path} is not a file")
    return path.resolve()


class Children:
    """The subprocesses ``agency up`` started, stopped in reverse order."""

    def __init__(self) -> None:
        self.procs: list[tuple[str, asyncio.subprocess.Process]] = []

    async def start(
        self, name: str, argv: list[str], env: dict[str, str]
    ) -> asyncio.subprocess.Process:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            env=env,
            start_new_session=True,
            preexec_fn=_die_with_parent if _LIBC is not None else None,
        )
        self.procs.append((name, proc))
        return proc

    async def stop(self, grace: float = STOP_GRACE) -> None:
        alive = [(n, p) for n, p in self.procs if p.returncode is None]
        for _, proc in alive:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
        for name, proc in alive:
            try:
                await asyncio.wait_for(proc.wait(), grace)
            except TimeoutError:
                log.warning(
                    "%s (pid %d) ignored SIGTERM for %.0f s: killing it", name, proc.pid, grace
                )
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                await proc.wait()


async def run_up(settings: Settings, *, dashboard: Path | None) -> int:
    """Serve until SIGINT/SIGTERM; returns the exit status."""
    import uvicorn

    from agency.api.app import create_app
    from agency.cli.serving import Server

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        # uvicorn handles the first signal itself, then re-raises it into this handler
        loop.call_soon_threadsafe(stop.set)

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)
    application = create_app(settings)
    config = uvicorn.Config(
        application,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        log_config=logs.uvicorn_log_config(settings.log_format),
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=5,
        loop="none",  # the loop is already running (see ``up``)
        http="httptools" if importlib.util.find_spec("httptools") else "h11",
    )
    server = Server(config)
    serving = asyncio.create_task(server.serve(), name="agency-api")
    started = asyncio.create_task(server.started_event.wait())
    await asyncio.wait(
        {serving, started}, timeout=START_TIMEOUT, return_when=asyncio.FIRST_COMPLETED
    )
    if not server.started:
        started.cancel()
        server.should_exit = True
        with contextlib.suppress(BaseException):
            await serving
        typer.echo("agency up: the control plane did not start (see the log above)", err=True)
        return 1
    children = Children()
    try:
        await _start_children(settings, application.state.plane, children, dashboard)
        missing = await wait_ready(settings, application.state.plane, dashboard)
        if settings.demo:
            await _seed_demo(application.state.plane, stop)
        _banner(settings, children, dashboard, missing)
        gcpolicy.settle_after_start()
        gcpolicy.hand_off_quickly()
        stopper = asyncio.create_task(stop.wait())
        await asyncio.wait({serving, stopper}, return_when=asyncio.FIRST_COMPLETED)
        stopper.cancel()
        server.should_exit = True
        await serving
    finally:
        await children.stop()
        gcpolicy.release()
    return 0


async def _start_children(
    settings: Settings, plane: ControlPlane, children: Children, dashboard: Path | None
) -> None:
    cp_url = local_url(settings.host, settings.port)
    # the user's AGENCY_* settings (sandbox, agent command, keystore...) reach the children;
    # a worker id would give every local worker the same one, so it is left out
    base_env = {k: v for k, v in os.environ.items() if k != "AGENCY_WORKER_ID"}
    base_env["AGENCY_DATA_DIR"] = str(settings.data_dir.resolve())
    base_env["AGENCY_LOG_LEVEL"] = settings.log_level
    base_env["AGENCY_LOG_FORMAT"] = settings.log_format
    if settings.demo:
        from agency.control.demo import WORKER_LABEL  # lazy, like the rest of the control plane

        base_env["AGENCY_WORKER_LABELS"] = ",".join(
            label for label in (settings.worker_labels, WORKER_LABEL) if label
        )
    assert settings.worker_token is not None
    for i in range(settings.workers):
        port = settings.worker_base_port + i
        # local workers stay on plain loopback: an inherited TLS setting is not theirs
        plain = {k: v for k, v in base_env.items() if not k.startswith("AGENCY_WORKER_TLS_")}
        env = plain | {
            "AGENCY_WORKER_TOKEN": settings.worker_token,
            "AGENCY_SANDBOX": settings.sandbox,
        }
        await children.start(
            f"worker {port}",
            [
                sys.executable,
                "-m",
                "agency",
                "worker",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--control-plane",
                cp_url,
                "--capacity",
                str(settings.worker_capacity),
            ],
            env,
        )
    if dashboard is not None:
        secret = await plane.tokens.rotate("dashboard", Role.OPERATOR, "system")
        origins = {
            f"127.0.0.1:{settings.dashboard_port}",
            f"localhost:{settings.dashboard_port}",
            f"{settings.host}:{settings.dashboard_port}",
        }
        argv = [
            sys.executable,
            "-m",
            "panel",
            "serve",
            str(dashboard),
            "--port",
            str(settings.dashboard_port),
            "--address",
            settings.host,
        ]
        for origin in sorted(origins):
            argv += ["--allow-websocket-origin", origin]
        await children.start(
            "dashboard", argv, base_env | {"AGENCY_URL": cp_url, "AGENCY_TOKEN": secret}
        )


async def wait_ready(
    settings: Settings, plane: ControlPlane, dashboard: Path | None, timeout: float = START_TIMEOUT
) -> list[str]:
    """Wait until every URL of the banner answers; returns those that did not in time.

    The banner is the last thing ``agency up`` prints, so it must only name what works: the
    API's /health, each local worker registered and healthy, the dashboard's page.
    """
    import httpx  # lazy, like the rest of the control plane (start-up time of the CLI)

    checks: dict[str, str] = {"control plane": local_url(settings.host, settings.port) + "/health"}
    if dashboard is not None:
        checks["dashboard"] = (
            f"{local_url(settings.host, settings.dashboard_port)}/{dashboard.stem}"
        )
    pending = set(checks)
    deadline = asyncio.get_running_loop().time() + timeout
    async with httpx.AsyncClient(timeout=2.0) as http:
        while True:
            for name in sorted(pending):
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get(checks[name])).status_code == 200:
                        pending.discard(name)
            healthy = sum(w.health.value == "healthy" for w in plane.registry.list())
            workers_ok = healthy >= settings.workers
            if (not pending and workers_ok) or asyncio.get_running_loop().time() > deadline:
                break
            await asyncio.sleep(0.1)
    return sorted(pending) + ([] if workers_ok else [f"workers ({healthy} of {settings.workers})"])


async def _seed_demo(plane: ControlPlane, stop: asyncio.Event) -> None:
    """Seed the demo data once the local workers are registered (its tasks run on them).

    A stop during the seed ends it; a failed seed is logged, and everything else still runs.
    """
    from agency.control.demo import seed_demo  # lazy, like the rest of the control plane

    seeding = asyncio.create_task(seed_demo(plane), name="agency-demo")
    stopper = asyncio.create_task(stop.wait())
    await asyncio.wait({seeding, stopper}, return_when=asyncio.FIRST_COMPLETED)
    stopper.cancel()
    if not seeding.done():
        seeding.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await seeding
    elif seeding.exception() is not None:
        log.error("demo data: seeding failed", exc_info=seeding.exception())


def _banner(
    settings: Settings, children: Children, dashboard: Path | None, missing: list[str]
) -> None:
    from agency.control.token_secrets import admin_token_path

    url = local_url(settings.host, settings.port)
    where = "AGENCY_ADMIN_TOKEN" if settings.admin_token else str(admin_token_path(settings))
    lines = [
        f"agency control plane  {url}   (API docs {url}/docs, health {url}/health)",
        f"database              {settings.database_path}",
    ]
    if dashboard is not None:
        lines.append(
            f"dashboard             {local_url(settings.host, settings.dashboard_port)}/{dashboard.stem}"
            f"   (serving {dashboard})"
        )
    workers = [f"http://127.0.0.1:{settings.worker_base_port + i}" for i in range(settings.workers)]
    lines.append(
        f"workers               {len(workers)} local"
        + (f": {', '.join(workers)}" if workers else "")
    )
    lines.append(
        f"admin token           in {where}  (export AGENCY_TOKEN=$(cat {where}))"
        if not settings.admin_token
        else "admin token           AGENCY_ADMIN_TOKEN"
    )
    if settings.demo:
        lines.append("demo data             seeded (remove: stop, then `agency demo remove`)")
    if missing:
        lines.append(f"not answering yet      {', '.join(missing)} (see the log above)")
    lines.append("Ctrl-C (or SIGTERM) stops everything.")
    typer.echo("\n".join(lines))


@app.callback(invoke_without_command=True)
def up(
    host: str | None = typer.Option(None, "--host", help="Address of the API. [AGENCY_HOST]"),
    port: int | None = typer.Option(None, "--port", help="Port of the API. [AGENCY_PORT]"),
    workers: int | None = typer.Option(
        None, "--workers", help="Local workers (0 for none). [AGENCY_WORKERS]"
    ),
    worker_base_port: int | None = typer.Option(
        None, "--worker-base-port", help="Port of the first local worker. [AGENCY_WORKER_BASE_PORT]"
    ),
    data_dir: Path | None = typer.Option(
        None, "--data-dir", help="DuckDB file, admin token, outputs. [AGENCY_DATA_DIR]"
    ),
    no_dashboard: bool = typer.Option(False, "--no-dashboard", help="Do not serve the dashboard."),
    dashboard_port: int | None = typer.Option(
        None, "--dashboard-port", help="Port of the dashboard. [AGENCY_DASHBOARD_PORT]"
    ),
    demo: bool = typer.Option(
        False, "--demo", help="Seed demo data for a first look. [AGENCY_DEMO]"
    ),
    log_level: str | None = typer.Option(
        None, "--log-level", help="debug, info, warning or error. [AGENCY_LOG_LEVEL]"
    ),
    log_format: str | None = typer.Option(
        None, "--log-format", help="text (people) or json (machines). [AGENCY_LOG_FORMAT]"
    ),
) -> None:
    """Start everything and run until Ctrl-C or SIGTERM."""
    from agency.control.token_secrets import new_secret

    try:
        settings = Settings.load(
            host=host,
            port=port,
            workers=workers,
            worker_base_port=worker_base_port,
            data_dir=data_dir,
            dashboard=False if no_dashboard else None,
            dashboard_port=dashboard_port,
            demo=True if demo else None,
            log_level=log_level,
            log_format=log_format,
        )
        # the local workers' token: accepted by the API (role worker) and required by the workers
        settings = settings.model_copy(
            update={"worker_token": settings.worker_token or new_secret()}
        )
        dashboard = dashboard_app(settings) if settings.dashboard else None
    except AgencyError as exc:
        typer.echo(f"agency up: {exc.message}", err=True)
        raise typer.Exit(2) from exc
    logs.configure(settings.log_level, settings.log_format)
    try:
        # uvicorn's loop="uvloop" only applies to loops uvicorn creates; this one is ours
        # (uvloop halves the per-request cost of the event loop's I/O)
        runner = _uvloop_run() or asyncio.run
        status = runner(run_up(settings, dashboard=dashboard))
    except AgencyError as exc:
        typer.echo(f"agency up: {exc.code}: {exc.message}", err=True)
        raise typer.Exit(2) from exc
    raise typer.Exit(status)
