"""Settings: read from AGENCY_* variables and overrides, validated, and all documented
(in docs/configuration.md, whose table is the output of ``agency settings --markdown``)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agency.cli import app
from agency.errors import ConfigError
from agency.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
CONFIGURATION = ROOT / "docs" / "configuration.md"


def test_defaults() -> None:
    s = Settings.load(env={})
    assert (s.host, s.port, s.data_dir) == ("127.0.0.1", 8080, Path("data"))
    assert s.database_path == Path("data/agency.duckdb")
    assert s.admin_token is None


def test_environment_then_overrides() -> None:
    env = {"AGENCY_PORT": "9090", "AGENCY_DATA_DIR": "/tmp/x", "AGENCY_SANDBOX": "required"}
    s = Settings.load(env=env, port=7070, host=None)
    assert s.port == 7070 and s.data_dir == Path("/tmp/x") and s.sandbox == "required"
    assert s.host == "127.0.0.1"  # a None override is ignored


def test_bad_values_name_the_variable() -> None:
    with pytest.raises(ConfigError, match="AGENCY_PORT"):
        Settings.load(env={"AGENCY_PORT": "eighty"})
    with pytest.raises(ConfigError, match="AGENCY_SANDBOX"):
        Settings.load(env={"AGENCY_SANDBOX": "sometimes"})


def test_every_setting_has_help_and_is_in_the_configuration_page() -> None:
    page = CONFIGURATION.read_text()
    documented = set(re.findall(r"`(AGENCY_[A-Z0-9_]+)`", page))
    for row in Settings.describe():
        assert row["help"], f"{row['name']} has no help text"
        assert row["name"] in documented, f"{row['name']} is missing from docs/configuration.md"


def test_the_configuration_table_is_the_generated_one() -> None:
    result = CliRunner().invoke(app, ["settings", "--markdown"])
    assert result.exit_code == 0, result.output
    assert result.output in CONFIGURATION.read_text(), (
        "docs/configuration.md's table differs from the declarations: replace it with the "
        "output of `agency settings --markdown`"
    )
