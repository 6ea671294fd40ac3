"""What the agency distribution puts at the top of site-packages (setup.py, pyproject.toml)."""

from __future__ import annotations

from importlib.metadata import distribution
from pathlib import Path

import agency_dashboards

ROOT = Path(__file__).resolve().parents[1]


def test_only_agency_and_agency_dashboards_are_top_level() -> None:
    # no generic `dashboards` that another distribution's package of that name would clash with
    top_level = distribution("agency").read_text("top_level.txt") or ""
    assert set(top_level.split()) == {"agency", "agency_dashboards"}


def test_agency_dashboards_is_the_dashboards_folder() -> None:
    assert Path(agency_dashboards.__file__).parent == ROOT / "dashboards"
