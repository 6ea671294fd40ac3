"""``agency worker``: the reference worker runtime (the command lives in ``agency.worker.command``),
and ``agency worker attach``, which registers a worker that does not register itself."""

from __future__ import annotations

import typer

from agency.cli.remote import JSON_OPTION, TOKEN_OPTION, URL_OPTION, connect, dump, fail
from agency.worker.command import app

__all__ = ["app"]


@app.command("attach")
def attach(
    url: str = typer.Argument(..., help="The worker's URL, e.g. https://host:9000."),
    worker_id: str = typer.Option(..., "--id", help="Id the worker gets in this fleet."),
    protocol: str = typer.Option(
        "agency-agent", "--protocol", help="agency-agent (an ag-agent-claude) or agency."
    ),
    labels: list[str] | None = typer.Option(
        None, "--labels", help="Labels k=v (repeat the flag or use k=v,k2=v2)."
    ),
    fingerprint: str | None = typer.Option(
        None, "--fingerprint", help="Pin the certificate: sha256:<hex> of its DER form."
    ),
    ca_file: str | None = typer.Option(
        None, "--ca-file", help="Trust this CA bundle for the worker's certificate."
    ),
    insecure: bool = typer.Option(
        False, "--insecure", help="Do not verify the certificate (audited, shown as unverified)."
    ),
    api_url: str | None = URL_OPTION,
    token: str | None = TOKEN_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Attach a remote worker (by default an ag-agent-claude) to the fleet."""
    from pydantic import ValidationError  # lazy: start-up time of the CLI

    from agency.models import WorkerAttachIn, WorkerTLS

    pairs = [p for item in labels or [] for p in item.split(",") if p.strip()]
    if any("=" not in p for p in pairs):
        fail("labels are k=v", 2)
    tls = None
    if fingerprint or ca_file or insecure:
        try:
            tls = WorkerTLS(fingerprint=fingerprint, ca_file=ca_file, verify=not insecure)
        except ValidationError as exc:
            fail(exc.errors()[0]["msg"], 2)
    try:
        body = WorkerAttachIn.model_validate(
            {
                "id": worker_id,
                "url": url,
                "protocol": protocol,
                "tls": tls,
                "labels": dict(p.split("=", 1) for p in pairs),
            }
        )
    except ValidationError as exc:
        fail("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()), 2)
    with connect(api_url, token) as client:
        info = client.attach_worker(body)
    if as_json:
        dump(info)
    else:
        typer.echo(f"attached {info.id} ({info.protocol}) at {info.url}: {info.health.value}")


@app.command("list")
def list_workers(
    api_url: str | None = URL_OPTION,
    token: str | None = TOKEN_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Every worker: protocol, health, breaker, slots, an agent's state and current task."""
    with connect(api_url, token) as client:
        infos = client.worker_list()
    if as_json:
        dump(infos)
        return
    for w in infos:
        agent = (
            f" agent={w.agent_state or '?'} task={w.current_task or '-'}" if w.agent_state else ""
        )
        typer.echo(
            f"{w.id} {w.protocol} {w.health.value} breaker={w.breaker} "
            f"slots={w.running}/{w.capacity} version={w.version or '?'} {w.url}{agent}"
        )
