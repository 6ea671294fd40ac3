"""The timelines in real headless Chromium against a live stack (two real workers): a task's
queue wait against its run time per attempt in the drill-down, and the Workers page's fleet
view of which worker ran what, and when, with a row opening the task.

The bars are read from the Bokeh data source the chart draws (named after its CSS class), so
a test sees what the canvas was given, not pixels. Waits poll for their condition.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from agency.models import Task
from agency.testing import DashboardStack, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("console_errors")]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"


def finished(stack: DashboardStack, task: Task, timeout: float = 30) -> Task:
    return wait_for(
        lambda: (t := stack.client.task(task.id).task).state.terminal and t,
        timeout,
        f"task {task.id} to end",
    )


def bars(page: Page, name: str) -> dict[str, Any]:
    """The columns of the chart's data source (``{}`` until the chart is in the page)."""
    return page.evaluate(
        """(name) => {
            for (const doc of (window.Bokeh ? window.Bokeh.documents : [])) {
                const src = doc.get_model_by_name(name);
                if (src) { return Object.fromEntries(
                    [...src.data.entries ? src.data.entries() : Object.entries(src.data)]
                        .map(([k, v]) => [k, Array.from(v)])); }
            }
            return {};
        }""",
        name,
    )


BAR_POINT = """([name, taskId]) => {
    // the page point of the middle of the task's bar: data to canvas to page coordinates
    for (const doc of window.Bokeh.documents) {
        const src = doc.get_model_by_name(name);
        if (!src) { continue; }
        const i = Array.from(src.data.get ? src.data.get("task_id") : src.data.task_id).indexOf(taskId);
        if (i < 0) { return null; }
        const col = (k) => Array.from(src.data.get ? src.data.get(k) : src.data[k]);
        const renderer = [...doc.all_models].find((m) => m.data_source === src);
        const view = window.Bokeh.index.find_one(renderer);
        const xs = view.coordinates.x_scale, ys = view.coordinates.y_scale;
        const x = xs.compute((col("left")[i] + col("right")[i]) / 2);
        const y = ys.compute(ys.source_range.synthetic(col("worker_id")[i]));
        const box = view.plot_view.canvas_view.el.getBoundingClientRect();
        return [box.left + x, box.top + y];
    }
    return null;
}"""


def test_a_retried_task_shows_queue_wait_and_run_time_per_attempt(
    stack: DashboardStack, page: Page
) -> None:
    # the worker names the attempt in the task's environment: the first one fails
    task = stack.client.submit(
        "shell",
        {"argv": ["sh", "-c", 'sleep 0.3; test "$AGENCY_ATTEMPT" -ge 2 || exit 3']},
        retry={"max_attempts": 3, "backoff": 0},
    )
    done = finished(stack, task)
    assert done.state.value == "succeeded" and done.attempt == 2
    page.goto(stack.page("tasks") + f"&task={task.id}")
    expect(page.locator(".drill-title")).to_contain_text(task.id)
    totals = page.locator(".drill-totals")
    expect(totals).to_contain_text(re.compile(r"waited [\d.]+ m?s, ran [\d.]+ m?s over 2 attempts"))
    lines = page.locator(".drill-phases li")
    expect(lines).to_have_count(2)
    expect(lines.nth(0)).to_contain_text(
        re.compile(r"attempt 1/3: waited [\d.]+ m?s, ran [\d.]+ m?s on \S+, failed \(exit code 3\)")
    )
    expect(lines.nth(1)).to_contain_text(
        re.compile(r"attempt 2/3: waited [\d.]+ m?s, ran [\d.]+ m?s on \S+, succeeded")
    )
    expect(page.locator(".phase-chart canvas").first).to_be_visible()
    wait_for(lambda: len(bars(page, "phase-chart").get("part", [])) >= 4, 10, "the bars")
    drawn = bars(page, "phase-chart")
    parts = list(zip(drawn["row"], drawn["part"], strict=True))
    assert sum(part == "queue wait" for _, part in parts) == 2, parts
    assert ("run (failed)" in drawn["part"]) and ("run (succeeded)" in drawn["part"]), parts
    waits = {c for c, p in zip(drawn["color"], drawn["part"], strict=True) if p == "queue wait"}
    runs = {c for c, p in zip(drawn["color"], drawn["part"], strict=True) if p.startswith("run")}
    assert waits.isdisjoint(runs), "queue wait and run time share a colour"


def test_the_drill_down_timeline_follows_a_running_task_live(
    stack: DashboardStack, page: Page
) -> None:
    # long enough to still run on a loaded machine; canceled once the growth is seen
    task = stack.client.submit("shell", {"argv": ["sh", "-c", "sleep 120"]})
    wait_for(
        lambda: stack.client.task(task.id).task.state.value == "running", 20, "the task to run"
    )
    page.goto(stack.page("tasks") + f"&task={task.id}")
    line = page.locator(".drill-phases li").first
    expect(line).to_contain_text(re.compile(r"attempt 1/\d+: waited [\d.]+ m?s, running for"))
    first = line.inner_text()
    expect(line).not_to_have_text(first)  # the running figure grows while the page is open
    wait_for(lambda: any(bars(page, "phase-chart").get("open", [])), 10, "an open run bar")
    stack.client.cancel(task.id, reason="seen it grow")
    expect(line).to_contain_text(re.compile(r"ran [\d.]+ s on \S+, canceled"), timeout=30_000)
    wait_for(
        lambda: (
            (d := bars(page, "phase-chart"))
            and "run (canceled)" in d["part"]
            and not any(d["open"])
        ),
        10,
        "the chart to show the ended run",
    )


def test_the_workers_page_shows_who_ran_what_live_and_a_row_opens_the_task(
    stack: DashboardStack, page: Page
) -> None:
    page.goto(stack.page("workers"))
    expect(page.locator(".fleet-note")).to_contain_text("in the last 15 min")
    page.wait_for_timeout(700)  # the page has read its window once: what follows is live
    # more one-second tasks than one worker has slots: both real workers take some
    tasks = [
        stack.client.submit("shell", {"argv": ["sh", "-c", f"sleep 1; echo fleet-{i}"]})
        for i in range(10)
    ]
    for t in tasks:
        finished(stack, t)
    ran = {stack.client.task(t.id).task.worker_id for t in tasks}
    assert len(ran) == 2, f"both workers should have run some: {ran}"

    def drawn() -> dict[str, Any] | None:
        got = bars(page, "fleet-chart")
        mine = [
            (w, s)
            for w, t, s in zip(
                got.get("worker_id", []), got.get("task_id", []), got.get("state", []), strict=True
            )
            if t in {x.id for x in tasks}
        ]
        return got if len(mine) == len(tasks) and all(s == "succeeded" for _, s in mine) else None

    got = wait_for(drawn, 15, "the ten bars, ended, on the open page")
    assert set(got["worker_id"]) == ran, "one row per worker that ran something"
    expect(page.locator(".fleet-chart canvas").first).to_be_visible()
    expect(page.locator(".fleet-note")).to_contain_text(re.compile(r"on 2 workers"))
    row = page.locator(".fleet-table .tabulator-row", has_text=tasks[-1].id)
    expect(row).to_have_count(1)
    expect(row.locator("[tabulator-field=state]")).to_have_text("succeeded")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "workers_fleet_timeline.png"), full_page=True)
    row.locator("a.task-link").click()
    page.wait_for_url(re.compile(rf"page=tasks&task={tasks[-1].id}"))
    expect(page.locator(".drill-title")).to_contain_text(tasks[-1].id)


def test_a_click_on_a_bar_opens_its_task(stack: DashboardStack, page: Page) -> None:
    task = stack.client.submit("shell", {"argv": ["sh", "-c", "sleep 120"]})
    wait_for(
        lambda: stack.client.task(task.id).task.state.value == "running", 20, "the task to run"
    )
    # the header's shared range is the timeline's window
    page.goto(stack.page("workers") + "&range=15m")
    expect(page.locator(".fleet-note")).to_contain_text("in the last 15 min.")
    # in flight, its bar grows to now: wide enough to hit once it has run some seconds
    wait_for(
        lambda: (
            (d := bars(page, "fleet-chart"))
            and task.id in d.get("task_id", [])
            and d["right"][d["task_id"].index(task.id)] - d["left"][d["task_id"].index(task.id)]
            > 15_000
        ),
        45,
        "its bar, fifteen seconds wide",
    )
    page.set_viewport_size({"width": 1024, "height": 900})
    expect(page.locator(".fleet-chart canvas").first).to_be_visible()
    wait_for(
        lambda: page.evaluate(
            "() => document.scrollingElement.scrollWidth <= document.scrollingElement.clientWidth"
        ),
        10,
        "no sideways scroll at 1024 px",
    )
    point = page.evaluate(BAR_POINT, ["fleet-chart", task.id])
    assert point is not None
    page.mouse.click(point[0], point[1])
    page.wait_for_url(re.compile(rf"page=tasks&task={task.id}"))
    expect(page.locator(".drill-title")).to_contain_text(task.id)
    stack.client.cancel(task.id, reason="clicked")
