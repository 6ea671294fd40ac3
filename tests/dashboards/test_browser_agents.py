"""An agent task's drill-down in real Chromium, against ``agency up`` whose workers run the
fake ``claude``: the conversation (tool calls folded and expandable, errors highlighted)
grows while the task runs, usage and the changes' diff are shown, and the follow-up box
submits the next prompt in the same session."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from agency.testing import DashboardStack as Stack
from agency.testing import running_stack, wait_for
from tests.dashboards.conftest import CHROMIUM
from tests.worker.fakes import install


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One worker whose ``agent`` tasks run the fake claude; transcripts polled every 0.2 s."""
    from pathlib import Path

    if not Path(CHROMIUM).exists():
        pytest.skip("needs /usr/bin/chromium (make system-deps)")
    bins = install(tmp_path_factory.mktemp("bin"))
    env = {
        "AGENCY_AGENT_RUNTIME": "claude",
        "AGENCY_CLAUDE_BIN": str(bins["claude"]),
        "AGENCY_TRANSCRIPT_POLL_INTERVAL": "0.2",
    }
    with running_stack(
        tmp_path_factory.mktemp("dash-agents"), workers=1, capacity=2, extra_env=env
    ) as live:
        yield live


def open_drilldown(stack: Stack, page: Page, task_id: str) -> None:
    page.goto(stack.page("tasks"))
    page.locator(".f-text input").fill(task_id)
    page.locator(".f-text input").press("Enter")
    row = page.locator(".tasks-table .tabulator-row", has_text=task_id)
    expect(row).to_have_count(1)
    row.locator("[tabulator-field=id]").click()


@pytest.mark.browser
def test_agent_conversation_live_folded_with_changes_and_follow_up(
    stack: Stack, page: Page
) -> None:
    task = stack.client.submit(
        "agent", {"prompt": "turns=6 sleep=1.2 file=notes.txt malformed", "model": "claude-t"}
    )
    wait_for(lambda: stack.client.task(task.id).task.state.value == "running", 30, "the run")
    open_drilldown(stack, page, task.id)
    items = page.locator(".conversation .conv-item")
    expect(items.first).to_be_visible(timeout=15_000)
    seen = items.count()
    assert stack.client.task(task.id).task.state.value == "running"
    # the transcript grows in place while the task runs: no reload, no click
    wait_for(lambda: items.count() > seen + 2, 15, "the conversation to grow live")
    assert stack.client.task(task.id).task.state.value == "running"

    errors = page.locator(".conversation .conv-error")
    expect(errors.first).to_be_visible()
    expect(errors.first).to_contain_text("not a JSON line")

    tool = page.locator(".conversation details.conv-tool").first
    expect(tool).to_contain_text("Write")
    assert tool.evaluate("e => e.open") is False  # folded
    detail = tool.locator(".conv-detail")
    expect(detail).to_be_hidden()
    tool.locator("summary").click()
    expect(detail).to_be_visible()
    expect(detail).to_contain_text("file_path: notes.txt")

    expect(page.locator(".drill-state .task-state")).to_have_attribute(
        "data-state", "succeeded", timeout=40_000
    )
    expect(page.locator(".changes-files")).to_contain_text("notes.txt")
    expect(page.locator(".changes-diff")).to_contain_text("+turn 1")
    expect(page.locator(".agent-usage")).to_contain_text("$")
    expect(page.locator(".agent-usage")).to_contain_text("claude-t")
    session = stack.client.task(task.id).session_id
    assert session

    page.locator(".follow-up-input textarea").fill("turns=1 file=more.txt")
    page.locator(".follow-up-send button").click()
    expect(page.locator(".follow-up-status")).to_contain_text("Follow-up submitted", timeout=10_000)
    deadline = time.monotonic() + 15
    follow = None
    while follow is None and time.monotonic() < deadline:
        found = stack.client.tasks_page(kind="agent", limit=20).items
        follow = next((t for t in found if t.id != task.id), None)
        time.sleep(0.2)
    assert follow is not None, "the follow-up was not submitted"
    assert follow.spec["session_id"] == session
    assert follow.spec["prompt"] == "turns=1 file=more.txt"
    assert follow.spec["model"] == "claude-t"
    done = wait_for(
        lambda: (d := stack.client.task(follow.id)).task.state.value == "succeeded" and d,
        30,
        "the follow-up to run",
    )
    assert done.session_id == session  # the same conversation, continued


@pytest.mark.browser
def test_an_agent_tasks_cost_shows_in_the_tasks_list(stack: Stack, page: Page) -> None:
    """The list's cost column: the agent task's USD (tokens on hover), blank for a plain task."""
    task = stack.client.submit("agent", {"prompt": "turns=2 cost=0.25", "model": "claude-t"})
    plain = stack.client.submit("noop", {})
    done = wait_for(
        lambda: (d := stack.client.task(task.id)).task.state.terminal and d.attempts and d,
        30,
        "the agent run to end",
    )
    assert done.usage is not None and done.usage.cost_usd
    page.goto(stack.page("tasks"))
    rows = page.locator(".tasks-table .tabulator-row")
    cost = rows.filter(has_text=task.id).locator("[tabulator-field=cost]")
    expect(cost).to_have_text(f"${done.usage.cost_usd:,.2f}", timeout=15_000)
    assert done.usage.cost_usd >= 0.5  # two turns at 0.25
    tip = cost.locator(".task-cost").get_attribute("title") or ""
    assert "tokens" in tip and "claude-t" in tip
    expect(rows.filter(has_text=plain.id).locator("[tabulator-field=cost]")).to_have_text("")
