"""Fixtures of the browser tests: one live stack and one headless Chromium per module."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import sync_playwright

from agency.testing import CHROMIUM_ARGS, DashboardStack, running_stack

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = ROOT / "artifacts" / "screenshots"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DashboardStack]:
    if not Path(CHROMIUM).exists() or not (
        shutil.which("agency") or (ROOT / ".venv/bin/agency").exists()
    ):
        pytest.skip("needs /usr/bin/chromium (make system-deps) and the agency command")
    with running_stack(tmp_path_factory.mktemp("dash")) as live:
        yield live


@pytest.fixture(scope="module")
def browser(stack: DashboardStack) -> Iterator[object]:
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture()
def page(browser: object, request: pytest.FixtureRequest) -> Iterator[object]:
    """A fresh browser page; its screenshot is saved under artifacts/screenshots/ at the end."""
    context = browser.new_context(viewport={"width": 1600, "height": 1000})  # type: ignore[attr-defined]
    pg = context.new_page()
    pg.set_default_timeout(20_000)
    try:
        yield pg
    finally:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        pg.screenshot(path=str(SCREENSHOTS / f"{request.node.name}.png"), full_page=True)
        context.close()


@pytest.fixture()
def console_errors(page: Any) -> Iterator[list[str]]:
    """Browser console errors, printed with a failing test's output (why a widget is blank);
    a module asks for it with ``pytestmark = pytest.mark.usefixtures("console_errors")``."""
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    yield errors
    if errors:
        print("browser console errors:", *errors, sep="\n  ")
