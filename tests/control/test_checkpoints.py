"""Signed checkpoints of the chain head catch what the chain check alone cannot: the newest
events deleted, or the whole chain recomputed after an edit (issue 21)."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from agency.cli import app
from agency.control import ControlPlane
from agency.errors import ConfigError
from agency.models import EventIn
from agency.security.signing import public_pem
from agency.settings import Settings
from agency.storage.chain import canonical, epoch_us, event_hash
from agency.testing import Receiver, free_port

runner = CliRunner()


def _settings(tmp_path: Path) -> Settings:
    return Settings.load(env={}, data_dir=tmp_path, keystore="env", checkpoint_every=10)


async def _seed(settings: Settings, n: int = 50) -> tuple[int, str]:
    """``n`` events, checkpointed every 10; returns the last seq and the public key (PEM)."""
    plane = await ControlPlane.open(settings)
    try:
        for i in range(n):
            await plane.repos.events.append(
                EventIn(actor="a", action="x.y", resource_type="thing", resource_id=f"r{i}")
            )
            if (i + 1) % 10 == 0:
                assert await plane.checkpoints.checkpoint() is not None
        assert plane.checkpoints.signer is not None
        pem = public_pem(plane.checkpoints.signer.public_key)
        head = plane.repos.events.last_seq
        report = await plane.checkpoints.verify()
        assert report.ok and report.checked == n // 10
    finally:
        await plane.close()
    return head, pem


def _verify_cli(settings: Settings, tmp_path: Path, pem: str) -> tuple[int, dict[str, object]]:
    key = tmp_path / "pub.pem"
    key.write_text(pem)
    log = settings.data_dir / "checkpoints.jsonl"
    args = ["--db", str(settings.database_path), "--checkpoints", str(log), "--pubkey", str(key)]
    res = runner.invoke(app, ["audit", "verify", *args, "--json"])
    return res.exit_code, json.loads(res.stdout)


@pytest.fixture
def keyed(monkeypatch: pytest.MonkeyPatch) -> None:
    # the env keystore stores a generated key in os.environ: keep it to this test
    monkeypatch.setenv("AGENCY_SECRET_agency_checkpoint_key", "")
    monkeypatch.delenv("AGENCY_SECRET_agency_checkpoint_key")


async def test_truncation_is_named_by_the_checkpoints(tmp_path: Path, keyed: None) -> None:
    settings = _settings(tmp_path)
    head, pem = await _seed(settings)
    code, out = _verify_cli(settings, tmp_path, pem)
    assert code == 0 and out["ok"] is True
    with duckdb.connect(str(settings.database_path)) as conn:
        conn.execute("DELETE FROM events WHERE seq > ?", [head - 10])
    # the chain alone still looks intact: nothing links past the new end
    plain = runner.invoke(app, ["audit", "verify", "--db", str(settings.database_path)])
    assert plain.exit_code == 0
    code, out = _verify_cli(settings, tmp_path, pem)
    assert code == 1
    cps = out["checkpoints"]
    assert isinstance(cps, dict)
    assert cps["missing"] == [head - 9, head]
    assert f"events {head - 9} to {head} are missing" in cps["reason"]
    # the API's verify (through the control plane) says the same
    plane = await ControlPlane.open(settings)
    try:
        chain, report = await plane.audit.verify_with_checkpoints()
        assert chain.ok and not report.ok and report.missing == (head - 9, head)
    finally:
        await plane.close()


async def test_a_recomputed_chain_is_detected(tmp_path: Path, keyed: None) -> None:
    settings = _settings(tmp_path)
    _, pem = await _seed(settings)
    edited = 23
    with duckdb.connect(str(settings.database_path)) as conn:
        conn.execute("UPDATE events SET actor = 'mallory' WHERE seq = ?", [edited])
        rows = conn.execute(
            "SELECT seq, ts, actor, action, resource_type, resource_id, details, verdict, "
            "prev_hash FROM events WHERE seq >= ? ORDER BY seq",
            [edited],
        ).fetchall()
        prev = rows[0][8]
        for seq, ts, actor, action, rtype, rid, details, verdict, _ in rows:
            body = canonical(seq, epoch_us(ts), actor, action, rtype, rid, details, verdict, prev)
            h = event_hash(prev, body)
            conn.execute("UPDATE events SET prev_hash = ?, hash = ? WHERE seq = ?", [prev, h, seq])
            prev = h
    plain = runner.invoke(app, ["audit", "verify", "--db", str(settings.database_path)])
    assert plain.exit_code == 0, plain.stdout  # the rewrite is self-consistent
    code, out = _verify_cli(settings, tmp_path, pem)
    assert code == 1
    cps = out["checkpoints"]
    assert isinstance(cps, dict)
    log = (settings.data_dir / "checkpoints.jsonl").read_text().splitlines()
    seqs = sorted(json.loads(line)["seq"] for line in log)
    before = max(s for s in seqs if s < edited)
    after = min(s for s in seqs if s >= edited)
    assert cps["rewritten"] == [before + 1, after]
    assert f"rewritten between seq {before + 1} and {after}" in cps["reason"]


async def test_a_forged_checkpoint_is_refused(tmp_path: Path, keyed: None) -> None:
    settings = _settings(tmp_path)
    _, pem = await _seed(settings, n=20)
    log = settings.data_dir / "checkpoints.jsonl"
    lines = log.read_text().splitlines()
    first = json.loads(lines[0])
    first["hash"] = "f" * 64
    log.write_text("\n".join([json.dumps(first), *lines[1:]]) + "\n")
    code, out = _verify_cli(settings, tmp_path, pem)
    assert code == 1
    cps = out["checkpoints"]
    assert isinstance(cps, dict)
    assert "not signed by a trusted key" in cps["reason"]


async def test_pubkey_prints_the_signing_key(
    tmp_path: Path, keyed: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _settings(tmp_path)
    _, pem = await _seed(settings, n=10)
    monkeypatch.setenv("AGENCY_KEYSTORE", "env")
    res = runner.invoke(app, ["audit", "pubkey"])
    assert res.exit_code == 0, res.output
    assert res.stdout.strip() == pem.strip()


async def test_an_env_keystore_key_survives_a_restart(
    tmp_path: Path, keyed: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The environment forgets a generated key when the process ends: the key is kept in the
    data dir (0600), so checkpoints signed before a restart verify after it."""
    settings = _settings(tmp_path)
    _, pem = await _seed(settings, n=20)
    key_file = settings.data_dir / "checkpoint.key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    monkeypatch.delenv("AGENCY_SECRET_agency_checkpoint_key")  # a new process
    plane = await ControlPlane.open(settings)
    try:
        assert plane.checkpoints.signer is not None
        assert public_pem(plane.checkpoints.signer.public_key) == pem
        report = await plane.checkpoints.verify()
        # the two seeded checkpoints verify; a loaded machine may add one of its own timer
        assert report.ok and report.checked >= 2, report
    finally:
        await plane.close()
    monkeypatch.delenv("AGENCY_SECRET_agency_checkpoint_key")
    key_file.chmod(0o644)  # a key others can read is refused, never used
    plane = await ControlPlane.open(settings)
    try:
        assert plane.checkpoints.signer is None
    finally:
        await plane.close()


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://checkpoints.example.com/log", "use https"),
        ("https://elsewhere.example.org/log", "not in the allowlist"),
        ("https://user@checkpoints.example.com/log", "credentials"),
        ("ftp://checkpoints.example.com/log", "scheme"),
    ],
)
async def test_the_checkpoint_url_passes_the_ssrf_guard(
    tmp_path: Path, url: str, reason: str
) -> None:
    settings = Settings.load(
        env={},
        data_dir=tmp_path,
        keystore="env",
        checkpoint_url=url,
        allowed_hosts="127.0.0.1,checkpoints.example.com",
    )
    with pytest.raises(ConfigError, match="AGENCY_CHECKPOINT_URL") as caught:
        await ControlPlane.open(settings)
    assert reason in caught.value.message
    assert not settings.database_path.exists()  # refused before anything was opened


async def test_checkpoints_are_posted_to_an_allowed_loopback_url(
    tmp_path: Path, keyed: None
) -> None:
    receiver = Receiver(free_port()).start()
    try:
        settings = Settings.load(
            env={},
            data_dir=tmp_path,
            keystore="env",
            checkpoint_every=10,
            checkpoint_url=receiver.url + "/checkpoints",
        )
        await _seed(settings, n=10)
        posted = receiver.find("/checkpoints")
    finally:
        receiver.stop()
    local = [json.loads(line) for line in (tmp_path / "checkpoints.jsonl").read_text().splitlines()]
    assert posted and [r.body for r in posted] == local
