"""The Workflows page in real headless Chromium against a live control plane and workers: the
runs, the live graph of the selected run (state colours; steps with tasks link to them), the
selected step's tasks, and approve, retry and cancel behind a confirmation."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from agency.models.workflows import RunState, StepState
from agency.testing import DashboardStack as Stack
from agency.testing import wait_for


def sh(script: str, **task: Any) -> dict[str, Any]:
    return {"kind": "shell", "spec": {"argv": ["sh", "-c", script]}, **task}


def submit(stack: Stack, name: str, steps: list[dict[str, Any]]) -> str:
    run = stack.client.submit_workflow({"name": name, "steps": steps})
    return run.id


def until(stack: Stack, run_id: str, check: Any, what: str) -> None:
    wait_for(lambda: check(stack.client.workflow_run(run_id)), 60, what)


def select_run(page: Page, run_id: str) -> None:
    row = page.locator(".workflow-runs .tabulator-row", has_text=run_id)
    expect(row).to_have_count(1)
    row.locator("[tabulator-field=name]").click()
    expect(page.locator(".workflow-graph")).to_be_visible()


def pick_step(page: Page, step: str) -> None:
    cells = page.locator(".workflow-steps .tabulator-cell[tabulator-field=step]")
    cells.filter(has_text=re.compile(rf"^{step}$")).click()


def node(page: Page, step: str) -> Any:
    return page.locator(f".workflow-graph .step-{step}")


def confirm(page: Page, says: str) -> None:
    expect(page.locator(".workflow-confirm .confirm-text")).to_contain_text(says)
    page.locator(".workflow-confirm .confirm-yes button").click()


@pytest.mark.browser
def test_graph_approve_retry_and_cancel(stack: Stack, page: Page) -> None:
    gate = {"role": "operator"}
    approved = submit(
        stack,
        "dash-deploy",
        [
            {"id": "build", "task": sh("echo built-it")},
            {"id": "deploy", "needs": ["build"], "approval": gate, "task": sh("echo deployed")},
            {"id": "notify", "needs": ["deploy"], "task": sh("echo notified")},
        ],
    )
    until(stack, approved, lambda r: r.state is RunState.WAITING_APPROVAL, "the approval gate")
    page.goto(stack.page("workflows"))
    select_run(page, approved)
    expect(node(page, "deploy")).to_have_attribute("data-state", "waiting_approval")
    expect(node(page, "build")).to_have_attribute("data-state", "succeeded")
    build_task = stack.client.workflow_run(approved).step("build").task_ids[0]
    link = page.locator(f".workflow-graph a[href='?page=tasks&task={build_task}']")
    expect(link).to_have_count(1)  # a step with a task links to it

    # a step's tasks, with their output
    pick_step(page, "build")
    detail = page.locator(".workflow-step-detail")
    expect(detail).to_contain_text(build_task)
    expect(detail).to_contain_text("built-it")

    # approve asks first, with the reason; then the graph follows the run live
    pick_step(page, "deploy")
    page.locator(".workflow-reason input").fill("change window open")
    page.locator(".workflow-approve button").click()
    confirm(page, "Approve step deploy")
    expect(page.locator(".workflow-status")).to_contain_text("Approved step deploy")
    expect(node(page, "notify")).to_have_attribute("data-state", "succeeded", timeout=30_000)
    done = stack.client.workflow_run(approved)
    assert done.state is RunState.SUCCEEDED and done.step("deploy").decided_by

    # retry a failed step: a new attempt
    failing = submit(
        stack, "dash-flaky", [{"id": "probe", "task": sh("exit 3", retry={"max_attempts": 1})}]
    )
    until(stack, failing, lambda r: r.state is RunState.FAILED, "the failure")
    page.reload()
    select_run(page, failing)
    expect(node(page, "probe")).to_have_attribute("data-state", "failed")
    pick_step(page, "probe")
    page.locator(".workflow-retry button").click()
    confirm(page, "Retry step probe")
    expect(page.locator(".workflow-status")).to_contain_text("Retrying step probe")
    until(stack, failing, lambda r: r.step("probe").attempt == 2, "the second attempt")

    # cancel: Back leaves it running, Confirm cancels the running step's task
    slow = submit(stack, "dash-slow", [{"id": "wait", "task": sh("sleep 60")}])
    until(stack, slow, lambda r: r.step("wait").state is StepState.RUNNING, "the slow step")
    page.reload()
    select_run(page, slow)
    page.locator(".workflow-cancel button").click()
    expect(page.locator(".workflow-confirm .confirm-text")).to_contain_text("wait")
    page.locator(".workflow-confirm .confirm-no button").click()
    assert stack.client.workflow_run(slow).cancel_requested is False
    page.locator(".workflow-cancel button").click()
    confirm(page, "Cancel run")
    expect(node(page, "wait")).to_have_attribute("data-state", "canceled", timeout=30_000)
    assert stack.client.workflow_run(slow).state is RunState.CANCELED
