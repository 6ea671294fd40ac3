"""Settings: read from AGENCY_* variables and overrides, validated, and all documented."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from agency.errors import ConfigError
from agency.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


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


def test_every_setting_has_help_and_is_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    documented = set(re.findall(r"`(AGENCY_[A-Z0-9_]+)`", readme))
    for row in Settings.describe():
        assert row["help"], f"{row['name']} has no help text"
        assert row["name"] in documented, f"{row['name']} is missing from README.md"
