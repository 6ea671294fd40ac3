"""The Schedules page in real headless Chromium against a live control plane and workers: the
list with next fires, the cron field's look-ahead while typing, trigger and pause behind a
confirmation, the fire history with outcomes, and the new-schedule form."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from agency.testing import DashboardStack as Stack
from agency.testing import wait_for

NOOP = {"kind": "noop", "spec": {}}


def row(page: Page, name: str) -> object:
    return page.locator(".schedules-table .tabulator-row", has_text=name)


@pytest.mark.browser
def test_list_preview_trigger_history_pause_and_create(stack: Stack, page: Page) -> None:
    client = stack.client
    client.create_schedule("dash-nightly", "30 2 * * *", NOOP, timezone="Europe/Berlin")
    page.goto(stack.page("schedules"))
    listed = page.locator(".schedules-table .tabulator-row", has_text="dash-nightly")
    expect(listed).to_have_count(1)
    expect(listed).to_contain_text("active")
    expect(listed).to_contain_text(re.compile(r"02:30:00 CES?T"))  # next fire, in its own zone

    # the cron field shows the next fires while it is typed, as the scheduler computes them
    cron = page.locator(".new-cron input")
    cron.press_sequentially("*/15 * * * *", delay=30)
    preview = page.locator(".cron-preview")
    expect(preview).to_contain_text("Next fires:")
    text = preview.locator("p").inner_text()
    times = re.findall(r"\d{2}:(\d{2}):00 UTC", text)
    assert len(times) == 5 and set(times) <= {"00", "15", "30", "45"}, text
    cron.fill("")
    cron.press_sequentially("61 * * * *", delay=30)
    expect(preview).to_contain_text("Not a schedule")
    expect(preview).to_contain_text("cron")
    page.locator(".new-tz input").fill("")
    page.locator(".new-tz input").press_sequentially("Mars/Olympus", delay=20)
    cron.fill("")
    cron.press_sequentially("@daily", delay=30)
    expect(preview).to_contain_text("timezone")

    # trigger: the confirmation names the schedule and what happens; then the history shows it
    listed.locator("[tabulator-field=name]").click()
    expect(page.locator(".schedule-fires")).to_be_visible()
    page.locator(".schedule-trigger button").click()
    confirm = page.locator(".schedule-confirm .confirm-text")
    expect(confirm).to_contain_text("dash-nightly")
    expect(confirm).to_contain_text("one task is submitted")
    page.locator(".schedule-confirm .confirm-yes button").click()
    expect(page.locator(".schedule-status")).to_contain_text("Fired: task")
    fired = client.schedule_fires("dash-nightly")
    assert len(fired) == 1 and bool(fired["manual"].iloc[0])
    task_id = str(fired["task_id"].iloc[0])
    history = page.locator(".schedule-fires .tabulator-row", has_text=task_id)
    expect(history).to_have_count(1)
    expect(history).to_contain_text("manual")
    expect(history).to_contain_text("succeeded", timeout=15_000)  # the outcome follows the task
    expect(listed).to_contain_text("succeeded")

    # pause asks first; Back leaves it active, Confirm pauses it
    page.locator(".schedule-pause button").click()
    expect(confirm).to_contain_text("Pause **dash-nightly**".replace("**", ""))
    page.locator(".schedule-confirm .confirm-no button").click()
    expect(page.locator(".schedule-confirm")).to_be_hidden()
    assert client.schedule("dash-nightly").paused is False
    page.locator(".schedule-pause button").click()
    page.locator(".schedule-confirm .confirm-yes button").click()
    expect(listed).to_contain_text("paused")
    assert client.schedule("dash-nightly").paused is True

    # the form creates a schedule that then lists with its next fire
    page.locator(".new-name input").fill("dash-made")
    page.locator(".new-tz input").fill("UTC")
    cron.fill("")
    cron.press_sequentially("0 4 * * *", delay=20)
    expect(preview).to_contain_text("04:00:00 UTC")
    page.locator(".new-kind select").select_option("shell")
    page.locator(".new-command input").fill("echo from-dashboard")
    page.locator(".new-create button").click()
    made = page.locator(".schedules-table .tabulator-row", has_text="dash-made")
    expect(made).to_have_count(1)
    expect(made).to_contain_text("04:00:00 UTC")
    shown = wait_for(lambda: client.schedule("dash-made"), 10, "the new schedule")
    assert shown.task.spec == {"argv": ["echo", "from-dashboard"]} and shown.cron == "0 4 * * *"
