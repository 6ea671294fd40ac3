"""The dashboard against a live control plane with real workers: pages in real headless
Chromium (each leaves a screenshot under artifacts/screenshots/), plus the live parts
(notebook Overview, chat link) driven directly.
"""

from __future__ import annotations

import os
import random
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import panel as pn
import psutil
import pytest
from playwright.sync_api import Page, expect

from agency.testing import DASHBOARD_ADMIN_TOKEN, DashboardStack, free_port, wait_for
from agency_dashboards.chat_link import ChatLink
from agency_dashboards.connection import Backend
from agency_dashboards.context import Context
from agency_dashboards.notebook import overview
from agency_dashboards.pages.overview import OverviewPage

ROOT = Path(__file__).resolve().parents[2]


def tile_text(page: Page, key: str) -> str:
    return page.locator(f".kpi-{key} .kpi-value").inner_text().strip()


def processes_with(marker: str) -> list[psutil.Process]:
    """Live processes whose command line holds ``marker`` (the task's own, sandbox included)."""
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        try:
            if (
                marker in " ".join(proc.info["cmdline"] or [])
                and proc.info["status"] != psutil.STATUS_ZOMBIE
            ):
                found.append(proc)
        except psutil.Error:
            continue
    return found


@pytest.mark.browser
def test_overview_counter_moves_live_without_reload(stack: DashboardStack, page: Page) -> None:
    page.goto(stack.page("overview"))
    expect(page.locator(".kpi-tasks .kpi-value")).to_have_text(re.compile(r"^\d[\d,]*$"))
    before = int(tile_text(page, "tasks").replace(",", ""))
    navigations: list[Any] = []
    page.on("framenavigated", lambda frame: navigations.append(frame.url))
    stack.client.submit_many(
        [{"kind": "noop", "spec": {}, "labels": {"test": "overview"}} for _ in range(5)]
    )
    submitted = time.monotonic()
    expect(page.locator(".kpi-tasks .kpi-value")).to_have_text(str(before + 5), timeout=3000)
    assert time.monotonic() - submitted < 3.0
    assert navigations == []  # the tile changed over the live stream, not by a reload
    expect(page.locator(".stream-status")).to_contain_text("live")


@pytest.mark.browser
def test_cancel_running_task_from_drilldown(stack: DashboardStack, page: Page) -> None:
    marker = f"0.{random.randrange(10**8, 10**9)}"  # `sleep 600 0.xxx`: a unique command line
    task = stack.client.submit(
        "shell", {"argv": ["sleep", "600", marker]}
    )  # no labels: any worker fits
    wait_for(
        lambda: stack.client.task(task.id).task.state.value == "running", 30, "the task to run"
    )
    wait_for(lambda: processes_with(marker), 10, "the task's process")
    page.goto(stack.page("tasks"))
    page.locator(".f-text input").fill(task.id)
    page.locator(".f-text input").press("Enter")
    row = page.locator(".tasks-table .tabulator-row", has_text=task.id)
    expect(row).to_have_count(1)
    expect(row).to_contain_text("running")
    row.locator("[tabulator-field=id]").click()
    expect(page.locator(".drill-state .task-state")).to_have_attribute("data-state", "running")
    page.locator(".action-cancel button").click()
    confirm = page.locator(".task-confirm .confirm-text")
    expect(confirm).to_contain_text(task.id)
    expect(confirm).to_contain_text("SIGTERM")
    page.locator(".task-confirm .confirm-yes button").click()
    expect(page.locator(".drill-state .task-state")).to_have_attribute(
        "data-state", "canceled", timeout=30_000
    )
    expect(page.locator(".cancel-steps")).to_contain_text("cancel requested")
    expect(row).to_contain_text("canceled")  # the list row followed the event stream too
    assert stack.client.task(task.id).task.state.value == "canceled"
    assert processes_with(marker) == []  # the worker's process is gone, not just the label


@pytest.mark.browser
def test_chat_message_echo_and_reply(stack: DashboardStack, page: Page) -> None:
    page.goto(stack.page("chat"))
    page.locator(".chat-new button").click()
    expect(page.locator(".chat-status")).to_contain_text("socket: live")
    page.locator(".chat-input input").fill("/help")
    page.locator(".chat-send button").click()
    expect(page.locator(".chat-feed .chat-user")).to_contain_text("/help")
    expect(page.locator(".chat-feed .chat-assistant")).to_have_count(1, timeout=15_000)
    sessions = stack.client.chat_sessions().sort_values("created_at")
    rows = stack.client.chat_messages(str(sessions["id"].iloc[-1])).to_dict("records")
    assert (rows[0]["role"], rows[0]["content"]) == ("user", "/help")
    assert rows[1]["role"] == "assistant"


@pytest.mark.browser
def test_saved_query_runs_and_shows_rows(stack: DashboardStack, page: Page) -> None:
    stack.client.submit("noop", {})  # at least one task, so the grouped query has a row
    saved = stack.client.create_query(
        name="tasks_by_state",
        sql="select state, count(*) as n from tasks group by state order by n desc",
    )
    page.goto(stack.page("queries"))
    page.locator(".query-pick select").select_option(label=f"tasks_by_state (r{saved.revision})")
    # the editor's default text is this same SQL: the name says the pick has landed
    expect(page.locator(".query-name input")).to_have_value("tasks_by_state")
    expect(page.locator(".query-sql textarea")).to_have_value(re.compile("group by state"))
    page.locator(".query-run button").click()
    info = page.locator(".query-result-info .query-rows")
    expect(info).to_have_attribute("data-rows", re.compile(r"^[1-9]\d*$"))
    expect(info).to_have_attribute("data-edited", "false")  # the saved text, run as the query
    expect(page.locator(".query-result .tabulator-row").first).to_be_visible()
    expect(page.locator(".query-runs .tabulator-row")).to_have_count(1)


@pytest.mark.parametrize("name", ["workers", "audit", "health"])
@pytest.mark.browser
def test_other_pages_render(stack: DashboardStack, page: Page, name: str) -> None:
    page.goto(stack.page(name))
    if name == "workers":
        expect(page.locator(".workers-table .tabulator-row")).to_have_count(2)
        expect(page.locator(".workers-table")).to_contain_text("closed")
    elif name == "audit":
        expect(page.locator(".audit-table .tabulator-row").first).to_be_visible()
        page.locator(".audit-verify button").click()
        expect(page.locator(".verify-result")).to_contain_text("Chain verified")
    else:
        expect(page.locator(".health-status")).to_have_text(re.compile("healthy|degraded"))
        expect(page.locator(".health-table .tabulator-row").first).to_be_visible()


@pytest.mark.browser
def test_bulk_cancel_shows_dry_run_count_then_cancels(stack: DashboardStack, page: Page) -> None:
    # labelled tasks that no worker's labels fit: they wait in the queue until canceled
    stack.client.submit_many(
        [{"kind": "noop", "spec": {}, "labels": {"batch": "bulk"}} for _ in range(25)]
    )
    page.goto(stack.page("tasks"))
    page.locator(".f-label input").fill("batch=bulk")
    page.locator(".f-label input").press("Enter")
    expect(page.locator(".page-info .page-label")).to_have_attribute("data-rows", "25")
    page.locator(".bulk-cancel button").click()
    expect(page.locator(".bulk-confirm .confirm-text")).to_contain_text("25 tasks")
    page.locator(".bulk-confirm .confirm-yes button").click()
    expect(page.locator(".tasks-table")).to_contain_text("canceled")
    wait_for(
        lambda: (
            stack.client.bulk_cancel(label="batch=bulk", states=["pending"], dry_run=True).count
            == 0
        ),
        30,
        "the batch to be canceled",
    )
    expect(page.locator(".tasks-table")).not_to_contain_text("pending", timeout=10_000)


@pytest.mark.browser
def test_page_through_10000_tasks(stack: DashboardStack, page: Page) -> None:
    """Last in the module: it leaves 10,000 queued tasks behind (the stack stops after it)."""
    client = stack.client
    client.pause_queue("dashboard paging test")  # keep the batch out of the dispatcher's way
    for _ in range(10):
        client.submit_many(
            [{"kind": "noop", "spec": {}, "labels": {"batch": "paging"}} for _ in range(1000)]
        )
    page.goto(stack.page("tasks"))
    page.locator(".f-size select").select_option("500")
    page.locator(".f-label input").fill("batch=paging")
    page.locator(".f-label input").press("Enter")
    label = page.locator(".page-info .page-label")
    expect(label).to_have_attribute("data-page", "1")
    expect(label).to_have_attribute("data-rows", "500")
    first_cell = page.locator(".tasks-table .tabulator-row [tabulator-field=id]").first
    seen_first: set[str] = set()
    for number in range(1, 21):
        expect(label).to_have_attribute("data-page", str(number))
        for seen in seen_first:  # the table shows the new page, not a page already seen
            expect(first_cell).not_to_have_text(seen)
        seen_first.add(first_cell.inner_text())
        if number < 20:
            page.locator(".page-next button").click()
    expect(label).to_contain_text("rows 9,501-10,000")
    expect(label).to_contain_text("last page")
    expect(page.locator(".page-next button")).to_be_disabled()
    page.locator(".page-first button").click()
    expect(label).to_have_attribute("data-page", "1")
    # bulk cancel says how many it would cancel before anything happens; Back leaves them
    page.locator(".bulk-cancel button").click()
    expect(page.locator(".bulk-confirm .confirm-text")).to_contain_text("10,000 tasks")
    page.locator(".bulk-confirm .confirm-no button").click()
    expect(page.locator(".bulk-confirm")).to_be_hidden()
    assert (
        client.bulk_cancel(label="batch=paging", states=["pending"], dry_run=True).count == 10_000
    )


def test_overview_in_a_notebook_cell(stack: DashboardStack) -> None:
    """What a JupyterLab cell gets: a Panel object whose tiles follow the metrics stream."""
    ctx = Context.for_backend(Backend(stack.api_url, DASHBOARD_ADMIN_TOKEN))
    assert isinstance(overview(ctx), pn.viewable.Viewable)
    page = OverviewPage(ctx)
    wait_for(lambda: ctx.feeds.metrics.latest is not None, 10, "the first KPI snapshot")
    page.tick()
    assert re.fullmatch(r"[\d,]+", _tile_value(page.tiles["tasks"].object))
    assert "live" in page.stream_note.object


def _tile_value(html: str) -> str:
    found = re.search(r'class="kpi-value"[^>]*>([^<]*)<', html)
    return found.group(1) if found else ""


def test_chat_link_resumes_after_a_drop(stack: DashboardStack) -> None:
    session = stack.client.create_session("drop test").session_id
    link = ChatLink(stack.client, session)
    try:
        got: list[dict[str, Any]] = []
        link.send("/help")
        wait_for(lambda: got.extend(link.drain()) or len(got) >= 2, 15, "echo and reply")
        link._conn._conn.close()  # drop the socket under the link, as a network failure would
        link.send("/workers")
        wait_for(
            lambda: got.extend(link.drain()) or len(got) >= 4, 15, "the exchange after the drop"
        )
        assert [(m["seq"], m["role"]) for m in got] == [
            (1, "user"),
            (2, "assistant"),
            (3, "user"),
            (4, "assistant"),
        ]
    finally:
        link.close()


@pytest.mark.browser
def test_backend_outside_the_allowlist_is_refused(stack: DashboardStack, page: Page) -> None:
    port = free_port()
    env = {
        **os.environ,
        "AGENCY_URL": "http://169.254.169.254:80",
        "AGENCY_TOKEN": "x",
        "AGENCY_ALLOWED_HOSTS": "127.0.0.1,localhost",
    }
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "panel"),
            "serve",
            str(ROOT / "dashboards" / "app.py"),
            "--address",
            "127.0.0.1",
            "--port",
            str(port),
            "--allow-websocket-origin",
            f"127.0.0.1:{port}",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_for(
            lambda: httpx.get(f"http://127.0.0.1:{port}/app", timeout=10).status_code == 200,
            60,
            "the dashboard",
        )
        page.goto(f"http://127.0.0.1:{port}/app")
        expect(page.locator(".host-refused")).to_contain_text("169.254.169.254")
        expect(page.locator(".host-refused")).to_contain_text("AGENCY_ALLOWED_HOSTS")
    finally:
        proc.terminate()
        proc.wait(10)
