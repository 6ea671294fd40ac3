"""The operator's pages in real Chromium against a live stack: alerts live (table, badge,
notification, history), acknowledgement audited with the operator's name and reason, the
selection following ids, Audit newest first with paging, Queries running the editor's text,
and the layout at 1024 and 1440 px.

The dashboard runs with ``AGENCY_OPERATOR=alice-ops``: it names her on every request.
Alerts come the real way: a worker process registered with the control plane is killed and
the control plane raises ``worker-silent`` after three missed heartbeats.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from agency.testing import DashboardStack, WorkerProc, running_stack, start_worker, wait_for

CHROMIUM = "/usr/bin/chromium"
OPERATOR = "alice-ops"
#: the promise (issue 15) and the margin allowed on a loaded 2-core machine
ALERT_PROMISE_S, MARGIN_S = 2.0, 1.0


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DashboardStack]:
    if not Path(CHROMIUM).exists():
        pytest.skip("needs /usr/bin/chromium (make system-deps)")
    data = tmp_path_factory.mktemp("ops")
    with running_stack(data, extra_env={"AGENCY_OPERATOR": OPERATOR}) as live:
        yield live


def silent_workers(stack: DashboardStack, n: int, tmp: Path) -> list[str]:
    """Start ``n`` workers (labelled so no task goes to them), kill them; their ids."""
    secret = stack.client.create_token(f"doomed-{time.monotonic_ns()}", "worker").secret
    procs: list[WorkerProc] = [
        start_worker(
            tmp / f"w{i}",
            token=secret,
            labels="pool=doomed",
            control_plane=stack.api_url,
        )
        for i in range(n)
    ]
    ids = [p.worker_id for p in procs]
    wait_for(lambda: set(ids) <= set(stack.client.workers()["id"]), 30, "the workers to register")
    for p in procs:
        p.proc.kill()
        p.proc.wait(10)
    return ids


def open_alert_of(stack: DashboardStack, worker_id: str) -> dict[str, object] | None:
    df = stack.client.alerts(state="open")
    rows = df[df["resource_id"] == worker_id].to_dict("records") if not df.empty else []
    return rows[0] if rows else None


@pytest.mark.browser
def test_alert_raised_while_the_page_is_open_shows_live(
    stack: DashboardStack, page: Page, tmp_path: Path
) -> None:
    page.goto(stack.page("overview"))
    badge = page.locator(".alert-badge .alert-count")
    expect(badge).to_have_attribute("data-count", "0")
    expect(page.locator(".operator-name")).to_contain_text(OPERATOR)
    page.wait_for_timeout(1500)  # the session has read the board once: later alerts are new
    (worker,) = silent_workers(stack, 1, tmp_path)
    wait_for(lambda: open_alert_of(stack, worker) is not None, 30, "the API to list the alert")
    listed = time.monotonic()
    row = page.locator(".alerts-table .tabulator-row", has_text=worker)
    expect(row).to_be_visible(timeout=10_000)
    shown = time.monotonic() - listed
    print(f"alert shown {shown:.2f} s after the API listed it")
    assert shown < ALERT_PROMISE_S + MARGIN_S
    expect(badge).to_have_attribute("data-count", "1")
    expect(page.locator(".notyf__toast", has_text="New warning alert")).to_be_visible()
    assert page.url.endswith("page=overview")  # no reload: it came over the live board


@pytest.mark.browser
def test_acknowledge_is_audited_with_the_operator_and_reason(
    stack: DashboardStack, page: Page, tmp_path: Path
) -> None:
    first, second = silent_workers(stack, 2, tmp_path)
    wait_for(
        lambda: open_alert_of(stack, first) and open_alert_of(stack, second), 30, "both alerts"
    )
    alert = open_alert_of(stack, first)
    assert alert is not None
    page.goto(stack.page("overview"))
    row = page.locator(".alerts-table .tabulator-row", has_text=first)
    row.locator("[tabulator-field=message]").click()
    expect(row).to_have_class(re.compile("tabulator-selected"))
    reason = "worker host rebooted for patching"
    page.locator(".alert-reason input").fill(reason)
    page.locator(".alert-ack button").click()
    expect(page.locator(".alert-confirm .confirm-text")).to_contain_text(OPERATOR)
    page.locator(".alert-confirm .confirm-yes button").click()
    expect(row).to_have_count(0)
    # the other alert is still listed, and nothing is picked for the operator
    expect(page.locator(".alerts-table .tabulator-row", has_text=second)).to_be_visible()
    expect(page.locator(".alerts-table .tabulator-selected")).to_have_count(0)
    page.locator(".alert-ack button").click()
    expect(page.locator(".alert-confirm")).to_be_hidden()
    # the history keeps it, with who did it
    history = page.locator(".alert-history .tabulator-row", has_text=first)
    expect(history).to_contain_text(f"({OPERATOR})")
    events = stack.client.audit(action="alert.acknowledged", resource_id=str(alert["id"]))
    assert len(events) == 1
    assert events["actor"].iloc[0] == f"admin ({OPERATOR})"  # the token, acting for her
    assert events["details"].iloc[0]["reason"] == reason


@pytest.mark.browser
def test_the_newest_audit_event_is_on_the_first_page(stack: DashboardStack, page: Page) -> None:
    # more than a thousand newer events than the operator's own action would hide it from a
    # page that reads the oldest events first
    for _ in range(3):
        stack.client.submit_many(
            [{"kind": "noop", "spec": {}, "labels": {"batch": "filler"}} for _ in range(500)]
        )
    session = stack.client.create_session("audit probe")
    newest = stack.client.audit_page(limit=1, newest_first=True).items[0]
    assert newest.resource_id == session.session_id
    page.goto(stack.page("audit"))
    first_row = page.locator(".audit-table .tabulator-row").first
    expect(first_row.locator("[tabulator-field=seq]")).to_have_text(re.compile(r"^\d+$"))
    top = int(first_row.locator("[tabulator-field=seq]").inner_text())
    assert top >= newest.seq  # newest first: the probe (or a newer event) leads the page
    expect(page.locator(".audit-table")).to_contain_text(session.session_id)
    info = page.locator(".audit-page-info .audit-page")
    expect(info).to_have_attribute("data-page", "1")
    page.locator(".audit-older button").click()
    expect(info).to_have_attribute("data-page", "2")
    expect(page.locator(".audit-table")).not_to_contain_text(session.session_id)
    second_top = int(first_row.locator("[tabulator-field=seq]").inner_text())
    assert second_top < top
    page.locator(".audit-newer button").click()
    expect(info).to_have_attribute("data-page", "1")
    # a task event's id is a link that opens the task, and details read as key: value
    # (which task events are among the newest hundred depends on how far the workers got)
    task_row = (
        page.locator(".audit-table .tabulator-row")
        .filter(has=page.locator("[tabulator-field=resource_type]", has_text=re.compile("^task$")))
        .first
    )
    link = task_row.locator("a.task-link")
    expect(link).to_have_attribute("href", re.compile(r"^\?page=tasks&task=[0-9a-f]{24}$"))
    task_row.locator("[tabulator-field=action]").click()
    expect(page.locator(".audit-detail .audit-kv")).to_be_visible()
    expect(page.locator(".audit-table")).not_to_contain_text("=None")


@pytest.mark.browser
def test_queries_run_the_editors_text(stack: DashboardStack, page: Page) -> None:
    stack.client.submit("noop", {}, labels={"batch": "kept"})  # a row the delete would take
    stored = "select state, count(*) as n from tasks group by state"
    saved = stack.client.create_query(name="by_state", sql=stored)
    page.goto(stack.page("queries"))
    page.locator(".query-pick select").select_option(label=f"by_state (r{saved.revision})")
    sql = page.locator(".query-sql textarea")
    expect(sql).to_have_value(stored)  # the saved text, not the editor's default
    sql.fill("select 42 as answer, 'edited' as what")
    sql.blur()
    page.locator(".query-run button").click()
    info = page.locator(".query-result-info .query-rows")
    expect(info).to_have_attribute("data-edited", "true")
    expect(info).to_have_attribute("data-rows", "1")
    expect(page.locator(".query-result")).to_contain_text("answer")
    expect(page.locator(".query-result .tabulator-row").first).to_contain_text("edited")
    sql.fill("delete from tasks")
    sql.blur()
    page.locator(".query-run button").click()
    expect(page.get_by_text("only SELECT queries are allowed")).to_be_visible()
    expect(page.locator(".query-result .tabulator-row")).to_have_count(0)
    assert stack.client.query("select count(*) as n from tasks")["n"].iloc[0] > 0


@pytest.mark.parametrize("width", [1024, 1440])
@pytest.mark.browser
def test_overview_does_not_scroll_sideways(stack: DashboardStack, page: Page, width: int) -> None:
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(stack.page("overview"))
    expect(page.locator(".kpi-tasks .kpi-value")).to_have_text(re.compile(r"^\d[\d,]*$"))
    page.wait_for_timeout(1000)  # charts and tables laid out
    scroll, client = page.evaluate(
        "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert scroll <= client, f"{scroll} px of content in a {client} px window"


@pytest.mark.browser
def test_chat_enter_sends_and_replies_read_well(stack: DashboardStack, page: Page) -> None:
    page.goto(stack.page("chat"))
    page.locator(".chat-new button").click()
    expect(page.locator(".chat-status")).to_contain_text("socket: live")
    box = page.locator(".chat-input input")
    for n, text in enumerate(["/help", "/workers", "/sql select 977.417::DOUBLE as load"], 1):
        box.fill(text)
        box.press("Enter")  # Enter sends: no click on Send
        expect(page.locator(".chat-feed .chat-assistant")).to_have_count(n, timeout=15_000)
    feed = page.locator(".chat-feed")
    last = page.locator(".chat-feed .chat-assistant").last
    expect(last).to_contain_text("977.4")
    expect(last).not_to_contain_text("977.417")
    expect(last.locator("pre").first).to_be_visible()  # a code block, not literal fences
    expect(feed).not_to_contain_text("```")
    # the feed follows the newest reply: scrolled to its end
    wait_for(
        lambda: feed.evaluate("el => el.scrollHeight - el.scrollTop - el.clientHeight") < 40,
        10,
        "the feed to scroll to the newest reply",
    )
    assert feed.evaluate("el => el.scrollHeight > el.clientHeight")  # it had to scroll


@pytest.mark.browser
def test_health_details_read_as_key_value_tables(stack: DashboardStack, page: Page) -> None:
    page.goto(stack.page("health"))
    expect(page.locator(".health-table .tabulator-row").first).to_be_visible()
    expect(page.locator(".health-details .health-kv").first).to_be_visible()
    table = page.locator(".health-table")
    expect(table).not_to_contain_text("={")
    expect(table).not_to_contain_text("=None")
    expect(table).not_to_contain_text("{'")
