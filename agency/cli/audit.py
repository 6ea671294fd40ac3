"""``agency audit verify``: check the events hash chain of the DuckDB file (and compare it with
signed checkpoints); ``agency audit pubkey``: the key that signs the checkpoints.

agency.storage and agency.security are imported when the command runs, not when the CLI starts
(start-up time).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from agency.cli.db import DB_OPTION, db_path, fail, warn_pending_journal
from agency.errors import AgencyError
from agency.settings import Settings

if TYPE_CHECKING:
    import duckdb
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from agency.security.checkpoints import CheckpointReport

app = typer.Typer(help="The audit trail: verify the events hash chain.", no_args_is_help=True)


CHECKPOINTS_OPTION = typer.Option(
    None,
    "--checkpoints",
    help="A checkpoint log (e.g. <AGENCY_DATA_DIR>/checkpoints.jsonl): also report a truncation "
    "or a rewritten chain that one of its signed checkpoints contradicts.",
)
PUBKEY_OPTION = typer.Option(
    None,
    "--pubkey",
    help="File with the public key (PEM or base64) the checkpoints must be signed with; "
    "default: the key in the keystore. Repeat for rotated keys.",
)


@app.command()
def verify(
    db: Path | None = DB_OPTION,
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    checkpoints: Path | None = CHECKPOINTS_OPTION,
    pubkey: list[Path] | None = PUBKEY_OPTION,
) -> None:
    """Exit 0 when every event links to the previous one and matches its hash (and agrees
    with every checkpoint given), 1 naming the first bad event or the contradicted range,
    2 when the file cannot be read."""
    from agency.storage.chain import has_events  # lazy: start-up time of the CLI
    from agency.storage.chain import verify as verify_chain  # lazy: start-up time of the CLI
    from agency.storage.connection import connect  # lazy: start-up time of the CLI

    path = db_path(db)
    if not path.exists():
        fail(f"no database at {path}", 2)
    warn_pending_journal(path)
    try:
        conn = connect(path, read_only=True)
    except AgencyError as exc:
        fail(exc.message, 2)
    try:
        if not has_events(conn):
            fail(f"{path} has no events table (run `agency db migrate`)", 2)
        report = verify_chain(conn)
        cps = _compare(conn, checkpoints, pubkey or []) if checkpoints is not None else None
    finally:
        conn.close()
    if cps is not None:
        _print_both(asdict(report), cps, as_json)
        raise typer.Exit(0 if report.ok and cps.ok else 1)
    if as_json:
        typer.echo(json.dumps(asdict(report)))
    elif report.ok:
        typer.echo(f"ok: {report.checked} events, chain intact (last seq {report.last_seq})")
    else:
        typer.echo(
            f"BROKEN at seq {report.first_bad_seq}: {report.reason} ({report.checked} events verified before it)"
        )
    raise typer.Exit(0 if report.ok else 1)


def _trusted_keys(pubkeys: list[Path]) -> list[Ed25519PublicKey]:
    from agency.security.keystore import open_keystore  # lazy: start-up time of the CLI
    from agency.security.signing import load_public_key, open_signer  # lazy: start-up

    try:
        if pubkeys:
            return [load_public_key(p.read_text()) for p in pubkeys]
        settings = Settings.load()
        return [open_signer(open_keystore(settings), settings.data_dir, create=False).public_key]
    except (AgencyError, OSError) as exc:
        fail(f"no key to check the checkpoints with ({exc}); pass --pubkey", 2)


def _compare(conn: duckdb.DuckDBPyConnection, path: Path, pubkeys: list[Path]) -> CheckpointReport:
    from agency.security.checkpoints import CheckpointLog, compare  # lazy: start-up time
    from agency.storage.chain import hashes_at, head_seq  # lazy: start-up time of the CLI

    if not path.exists():
        fail(f"no checkpoint log at {path}", 2)
    found = CheckpointLog.read(path)
    trusted = _trusted_keys(pubkeys)
    seqs = [c.seq for c in found.checkpoints]
    return compare(found, trusted, head_seq(conn), hashes_at(conn, seqs))


def _print_both(chain: dict[str, object], cps: CheckpointReport, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps({**chain, "checkpoints": asdict(cps)}))
        return
    if not chain["ok"]:
        typer.echo(f"BROKEN at seq {chain['first_bad_seq']}: {chain['reason']}")
    if cps.ok:
        typer.echo(f"ok: {cps.checked} checkpoints agree with the chain")
    else:
        typer.echo(f"CONTRADICTED at seq {cps.first_bad_seq}: {cps.reason}")
    if chain["ok"]:
        typer.echo(f"chain: {chain['checked']} events intact (last seq {chain['last_seq']})")


@app.command()
def pubkey(
    raw: bool = typer.Option(False, "--raw", help="Print the raw key, base64, not PEM."),
) -> None:
    """Print the public key that signs the audit checkpoints (give it to whoever verifies)."""
    from agency.security.keystore import open_keystore  # lazy: start-up time of the CLI
    from agency.security.signing import open_signer, public_pem  # lazy: start-up

    try:
        settings = Settings.load()
        signer = open_signer(open_keystore(settings), settings.data_dir, create=False)
    except AgencyError as exc:
        fail(f"no checkpoint signing key: {exc.message} (the control plane makes it)", 2)
    typer.echo(signer.key_id if raw else public_pem(signer.public_key).rstrip())
