"""The dashboard's pages as notebook cells, the way a user meets them: a real JupyterLab
server (its kernels seeing ``AGENCY_URL`` / ``AGENCY_TOKEN``), a notebook file, real headless
Chromium running the cells from JupyterLab's Run menu, against a live control plane with real
workers. Offline: every request the page makes must stay on this machine.
"""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import psutil
import pytest
from playwright.sync_api import Locator, Page, WebSocket, expect

from agency.testing import BIN, wait_for
from agency.testing import DASHBOARD_ADMIN_TOKEN as ADMIN_TOKEN
from agency.testing import DashboardStack as Stack
from agency_dashboards.pages.overview import TILES
from tests.dashboards.jupyterlab import ROOT, Lab, readme_cell, running_lab, write_notebook

pytestmark = [pytest.mark.browser, pytest.mark.slow]

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
KERNEL_START_S = 120  # a cold kernel imports Panel, HoloViews and pandas: slow on 2 busy cores


@pytest.fixture(scope="module")
def lab(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    env = {"AGENCY_URL": stack.api_url, "AGENCY_TOKEN": ADMIN_TOKEN}
    with running_lab(tmp_path_factory.mktemp("lab"), env) as running:
        # the environment's default (make install): Panel's comms stay on the main shell
        comms = running.setting(
            "@jupyterlab/apputils-extension:kernels-settings", "commsOverSubshells"
        )
        assert comms == "disabled", f"commsOverSubshells is {comms!r}: run `make install`"
        yield running


class Traffic:
    """Everything the page asked for, what failed, and the frames it sent over WebSockets."""

    def __init__(self, page: Page) -> None:
        self.urls: list[str] = []
        self.failed: list[str] = []
        self.sent: list[str] = []
        page.on("request", lambda request: self.urls.append(request.url))
        page.on("requestfailed", lambda request: self.failed.append(request.url))
        page.on(
            "response",
            lambda response: (
                self.failed.append(f"{response.status} {response.url}")
                if response.status >= 400
                else None
            ),
        )
        page.on("websocket", self._on_websocket)

    def _on_websocket(self, ws: WebSocket) -> None:
        self.urls.append(ws.url)
        ws.on("framesent", self._on_frame)

    def _on_frame(self, payload: str | bytes) -> None:
        # JupyterLab's kernel protocol frames are binary with JSON parts: latin-1 keeps them
        self.sent.append(payload if isinstance(payload, str) else payload.decode("latin-1"))

    def off_machine(self) -> list[str]:
        return [
            url
            for url in self.urls
            if urlsplit(url).scheme not in ("data", "blob", "about")
            and urlsplit(url).hostname not in LOOPBACK
        ]

    def echoes(self) -> list[str]:
        """Patches the browser sent back with changes only the kernel makes (tile text, a
        layout's children): Panel's comm echoing the kernel's own updates."""
        return [
            frame[:300]
            for frame in self.sent
            if "PATCH-DOC" in frame and re.search(r'"attr":\s*"(text|children)"', frame)
        ]


def open_and_run(page: Page, lab: Lab, name: str, cells: int) -> list[Locator]:
    """Open the notebook, wait for its kernel, Run > Run All Cells; the cells' output areas."""
    page.goto(lab.notebook_url(name))
    wait_for(lambda: lab.kernel_state(name) == "idle", KERNEL_START_S, f"the kernel of {name}")
    expect(page.get_by_text(re.compile(r"Python 3 \(ipykernel\) \| Idle"))).to_be_visible(
        timeout=KERNEL_START_S * 1000
    )
    page.locator(".lm-MenuBar-item", has_text=re.compile(r"^Run$")).click()
    page.locator(".lm-Menu-item", has_text=re.compile(r"^Run All Cells")).click()
    expect(page.locator(".jp-InputPrompt", has_text=f"[{cells}]:")).to_be_visible(
        timeout=KERNEL_START_S * 1000
    )
    return [page.locator(".jp-CodeCell").nth(i).locator(".jp-OutputArea") for i in range(cells)]


def assert_clean(outputs: list[Locator], traffic: Traffic, lab: Lab) -> None:
    """No traceback or stderr in the cells, nothing off this machine, no failed request, no
    echo, and the kernel the venv's Python."""
    for output in outputs:
        text = output.inner_text()
        assert "Traceback" not in text and "Error" not in text, text[-3000:]
        expect(output.locator('[data-mime-type="application/vnd.jupyter.stderr"]')).to_have_count(0)
    assert traffic.off_machine() == []
    assert traffic.failed == []
    assert traffic.sent, "no WebSocket frames recorded"
    assert traffic.echoes() == []
    assert kernel_interpreters(lab) == {str(BIN)}


def kernel_interpreters(lab: Lab) -> set[str]:
    """The folders of the Pythons the server's kernels run on (argv[0], as launched)."""
    ids = [kernel["id"] for kernel in lab.api("kernels")]  # type: ignore[attr-defined]
    found = set()
    for proc in psutil.process_iter(["cmdline"]):
        argv = proc.info["cmdline"] or []
        if any("ipykernel_launcher" in arg for arg in argv) and any(
            f"kernel-{kid}.json" in " ".join(argv) for kid in ids
        ):
            found.add(str(Path(argv[0]).parent))
    return found


def tile(output: Locator, key: str) -> Locator:
    return output.locator(f".kpi-{key} .kpi-value")


def test_readme_cell_renders_live_in_jupyterlab_offline(lab: Lab, stack: Stack, page: Page) -> None:
    write_notebook(lab.root / "readme.ipynb", [readme_cell()])
    traffic = Traffic(page)
    [output] = open_and_run(page, lab, "readme.ipynb", cells=1)
    expect(output.locator(".kpi-tile")).to_have_count(len(TILES), timeout=60_000)
    expect(tile(output, "tasks")).to_have_text(re.compile(r"^\d[\d,]*$"), timeout=30_000)
    expect(tile(output, "active-workers")).to_have_text("2", timeout=30_000)
    expect(output.locator(".stream-status")).to_contain_text("live")
    expect(output.locator(".bk-Canvas").first).to_be_visible(timeout=30_000)  # the charts
    before = int(tile(output, "tasks").inner_text().replace(",", ""))
    stack.client.submit_many([{"kind": "noop", "spec": {}} for _ in range(5)])
    submitted = time.monotonic()
    expect(tile(output, "tasks")).to_have_text(f"{before + 5:,}", timeout=15_000)
    assert time.monotonic() - submitted < 15
    page.wait_for_timeout(2000)  # a few more ticks and stream samples, then nothing went wrong
    assert_clean([output], traffic, lab)


def test_tasks_task_and_chat_cells_work_live(lab: Lab, stack: Stack, page: Page) -> None:
    # long enough to be running while the cells load; canceled below, which the pages follow
    task = stack.client.submit("shell", {"argv": ["sleep", "600"]})
    cells = [
        "from agency_dashboards import notebook\nnotebook.tasks()",  # setup() by itself
        f"notebook.task({task.id!r})",
        "notebook.chat()",
    ]
    write_notebook(lab.root / "pages.ipynb", cells)
    traffic = Traffic(page)
    tasks_out, task_out, chat_out = open_and_run(page, lab, "pages.ipynb", cells=3)

    # the Tasks page: filter to the task, open its drill-down
    search = tasks_out.locator(".f-text input")
    search.fill(task.id)
    search.press("Enter")
    rows = tasks_out.locator(".tasks-table .tabulator-row")
    expect(rows).to_have_count(1, timeout=30_000)  # the kernel applied the filter
    state = rows.first.locator("[tabulator-field=state]")
    expect(state).to_have_text("running", timeout=30_000)
    rows.first.locator("[tabulator-field=id]").click()
    expect(tasks_out.locator(".drill-title")).to_contain_text(task.id, timeout=30_000)
    expect(tasks_out.locator(".task-state")).to_have_attribute("data-state", "running")
    # the task's own drill-down (scrolled to: JupyterLab renders only cells in view)
    task_out.scroll_into_view_if_needed()
    expect(task_out.locator(".drill-title")).to_contain_text(task.id, timeout=30_000)
    expect(task_out.locator(".task-state")).to_have_attribute(
        "data-state", "running", timeout=30_000
    )

    # canceled through the API: the row and both drill-downs follow the event stream
    stack.client.cancel(task.id, reason="notebook test")
    for drill in (task_out, tasks_out):
        drill.scroll_into_view_if_needed()
        expect(drill.locator(".task-state")).to_have_attribute(
            "data-state", "canceled", timeout=30_000
        )
    expect(state).to_have_text("canceled")

    # the Chat page: a new session, a command, the assistant's answer over the WebSocket
    chat_out.scroll_into_view_if_needed()
    chat_out.get_by_placeholder("incident 42").fill("from a notebook")
    chat_out.locator(".chat-new button").click()
    expect(chat_out.locator(".chat-status")).to_contain_text("socket", timeout=30_000)
    chat_out.locator(".chat-input input").fill("/help")
    chat_out.locator(".chat-send button").click()
    expect(chat_out.locator(".chat-feed .chat-assistant").first).to_be_visible(timeout=30_000)
    page.wait_for_timeout(1000)
    assert_clean([tasks_out, task_out, chat_out], traffic, lab)


def test_a_runbook_chart_renders_in_jupyterlab_offline(lab: Lab, stack: Stack, page: Page) -> None:
    # a runbook as shipped, opened and run the way an operator does; its chart is Bokeh
    shutil.copy(ROOT / "notebooks" / "audit_review.ipynb", lab.root / "audit_review.ipynb")
    stack.client.submit("noop", {})  # at least one event in the window: the chart has bars
    traffic = Traffic(page)
    outputs = open_and_run(page, lab, "audit_review.ipynb", cells=9)
    chart = outputs[4]  # "Events by action"
    chart.scroll_into_view_if_needed()
    expect(chart.locator(".bk-Canvas").first).to_be_visible(timeout=60_000)
    assert traffic.off_machine() == []  # before setup() in the runbooks: cdn.bokeh.org
    assert traffic.failed == []
