"""Shared fixtures: settings rooted in ``tmp_path`` and a migrated store on a real DuckDB file."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from agency.settings import Settings
from agency.storage import Store


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Default settings with the data directory (and so the DuckDB file) in ``tmp_path``."""
    return Settings.load(env={}, data_dir=tmp_path)


@pytest.fixture
async def store(settings: Settings) -> AsyncIterator[Store]:
    """A migrated store on ``<tmp_path>/agency.duckdb``, closed after the test."""
    s = await Store.from_settings(settings)
    try:
        yield s
    finally:
        await s.close()


@pytest.fixture
def settings_path(settings: Settings) -> Path:
    """Where the ``settings`` fixture puts the DuckDB file."""
    return settings.database_path
