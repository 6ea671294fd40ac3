"""``agency worker``: run the reference worker runtime (flags override ``AGENCY_*`` settings).

Defined here rather than in ``agency.cli`` so ``python -m agency.worker`` starts the same
command without importing the control plane's CLI (API, storage, dashboards): a worker on
another machine starts in a fraction of the time and does not break when those do. The server
(FastAPI, httpx) is imported when the command runs: ``agency --help`` builds this sub-app and
must not pay for it (start-up time, benchmarks/bench_cli).
"""

from __future__ import annotations

import typer

from agency.errors import ConfigError
from agency.settings import Settings

app = typer.Typer(help="Run a worker: an HTTP service that runs tasks in sandboxed workspaces.")


@app.callback(invoke_without_command=True)
def worker(
    ctx: typer.Context,
    port: int | None = typer.Option(
        None, "--port", help="Port to listen on (0 picks a free one). [AGENCY_WORKER_PORT]"
    ),
    host: str | None = typer.Option(
        None, "--host", help="Address to listen on. [AGENCY_WORKER_HOST]"
    ),
    control_plane: str | None = typer.Option(
        None, "--control-plane", help="Control-plane URL to register with. [AGENCY_CONTROL_PLANE]"
    ),
    token: str | None = typer.Option(
        None,
        "--token",
        help="Worker token (agency token create --role worker): presented to the control plane, also accepted from direct callers. [AGENCY_WORKER_TOKEN]",
    ),
    advertise_url: str | None = typer.Option(
        None,
        "--advertise-url",
        help="URL the control plane calls this worker at (NAT, container, proxy). [AGENCY_WORKER_ADVERTISE_URL]",
    ),
    capacity: int | None = typer.Option(
        None, "--capacity", help="Tasks run at once; more get 409. [AGENCY_WORKER_CAPACITY]"
    ),
    labels: list[str] | None = typer.Option(
        None,
        "--labels",
        help="Labels k=v (repeat the flag or use k=v,k2=v2). [AGENCY_WORKER_LABELS]",
    ),
    roots: str | None = typer.Option(
        None,
        "--roots",
        help="Allowed roots DIR:DIR; workspaces go under the first. [AGENCY_WORKER_ROOTS]",
    ),
    worker_id: str | None = typer.Option(
        None, "--id", help="Worker id (default <hostname>-<port>). [AGENCY_WORKER_ID]"
    ),
    sandbox: str | None = typer.Option(
        None, "--sandbox", help="auto, required or off. [AGENCY_SANDBOX]"
    ),
    data_dir: str | None = typer.Option(
        None,
        "--data-dir",
        help="Data directory (worker state under <dir>/workers). [AGENCY_DATA_DIR]",
    ),
    tls_cert: str | None = typer.Option(
        None, "--tls-cert", help="Serve HTTPS with this PEM certificate. [AGENCY_WORKER_TLS_CERT]"
    ),
    tls_key: str | None = typer.Option(
        None, "--tls-key", help="PEM private key of --tls-cert. [AGENCY_WORKER_TLS_KEY]"
    ),
) -> None:
    """Serve the worker protocol until SIGINT/SIGTERM or POST /shutdown."""
    if ctx.invoked_subcommand is not None:
        return  # `agency worker attach ...`: the subcommand runs, not the worker
    try:
        settings = Settings.load(
            worker_port=port,
            worker_host=host,
            control_plane=control_plane,
            worker_token=token,
            worker_advertise_url=advertise_url,
            worker_capacity=capacity,
            worker_labels=",".join(labels) if labels else None,
            worker_roots=roots,
            worker_id=worker_id,
            sandbox=sandbox,
            data_dir=data_dir,
            worker_tls_cert=tls_cert,
            worker_tls_key=tls_key,
        )
    except ConfigError as exc:
        typer.echo(f"agency worker: {exc.message}", err=True)
        raise typer.Exit(2) from exc
    from agency.worker.server import serve  # lazy: start-up time of the CLI

    serve(settings)
