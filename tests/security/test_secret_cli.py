"""``agency secret``: set from stdin, list names only, delete; values never printed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from agency.cli import app

VALUE = "cli-secret-Vx81"
runner = CliRunner()


def env(tmp_path: Path, keystore: str = "file") -> dict[str, str]:
    return {"AGENCY_DATA_DIR": str(tmp_path), "AGENCY_KEYSTORE": keystore, "AGENCY_MASTER_KEY": ""}


def test_set_list_delete(tmp_path: Path) -> None:
    res = runner.invoke(
        app, ["secret", "set", "DEPLOY_KEY", "--value-stdin"], input=VALUE + "\n", env=env(tmp_path)
    )
    assert res.exit_code == 0, res.output
    assert VALUE not in res.output
    res = runner.invoke(app, ["secret", "list", "--json"], env=env(tmp_path))
    assert res.exit_code == 0 and '"names": ["DEPLOY_KEY"]' in res.stdout
    assert runner.invoke(app, ["secret", "delete", "DEPLOY_KEY"], env=env(tmp_path)).exit_code == 0
    assert runner.invoke(app, ["secret", "delete", "DEPLOY_KEY"], env=env(tmp_path)).exit_code == 1
    assert runner.invoke(app, ["secret", "list"], env=env(tmp_path)).stdout == ""
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert VALUE.encode() not in path.read_bytes()


def test_refusals(tmp_path: Path) -> None:
    assert (
        runner.invoke(
            app, ["secret", "set", "bad/name", "--value-stdin"], input="x" * 8, env=env(tmp_path)
        ).exit_code
        == 2
    )
    assert (
        runner.invoke(
            app, ["secret", "set", "EMPTY", "--value-stdin"], input="\n", env=env(tmp_path)
        ).exit_code
        == 2
    )
    assert (
        runner.invoke(app, ["secret", "list", "--keystore", "nowhere"], env=env(tmp_path)).exit_code
        == 2
    )


def test_real_process_reads_what_it_stored(tmp_path: Path) -> None:
    """A real `agency secret set` then a second process sees the name (file keystore)."""
    penv = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), **env(tmp_path)}
    del penv["AGENCY_MASTER_KEY"]
    cmd = [sys.executable, "-m", "agency", "secret"]
    res = subprocess.run(
        [*cmd, "set", "K1", "--value-stdin"],
        input=VALUE,
        env=penv,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 0, res.stderr
    assert "generated a new master key" in res.stderr
    assert (tmp_path / "master.key").stat().st_mode & 0o077 == 0
    res = subprocess.run([*cmd, "list"], env=penv, capture_output=True, text=True, timeout=60)
    assert res.stdout.split() == ["K1"] and VALUE not in res.stdout + res.stderr
