"""The drill-down shows a task's family: its parent link and its children's tree, in real
headless Chromium against a live control plane; a click on a node opens that task."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from agency.testing import DashboardStack, wait_for


def open_drilldown(page: Page, stack: DashboardStack, task_id: str) -> None:
    page.goto(stack.page("tasks"))
    page.locator(".f-text input").fill(task_id)
    page.locator(".f-text input").press("Enter")
    row = page.locator(".tasks-table .tabulator-row", has_text=task_id)
    expect(row).to_have_count(1)
    row.locator("[tabulator-field=id]").click()
    expect(page.locator(".drill-title")).to_contain_text(task_id)


@pytest.mark.browser
def test_drilldown_shows_the_child_tree(stack: DashboardStack, page: Page) -> None:
    client = stack.client
    parent = client.submit("noop", {})
    children = [client.submit("noop", {}, parent_id=parent.id) for _ in range(2)]
    grandchild = client.submit("noop", {}, parent_id=children[0].id)
    wait_for(
        lambda: client.task(grandchild.id).task.state.value == "succeeded", 30, "the tasks to end"
    )
    open_drilldown(page, stack, parent.id)
    tree = page.locator(".task-tree")
    expect(tree).to_be_visible()
    expect(tree.locator(".tree-node")).to_have_count(3)
    expect(tree.locator(".tree-depth-1")).to_have_count(2)
    expect(tree.locator(".tree-depth-2")).to_contain_text(grandchild.id)
    for child in children:
        expect(tree).to_contain_text(child.id)
    expect(tree.locator(".tree-parent")).to_have_count(0)
    # a click on the grandchild opens it, with the link back to its parent
    tree.locator(".tree-depth-2 button").click()
    expect(page.locator(".drill-title")).to_contain_text(grandchild.id)
    expect(page.locator(".task-tree .tree-parent")).to_contain_text(children[0].id)
    expect(page.locator(".task-tree .tree-node")).to_have_count(0)


@pytest.mark.browser
def test_a_task_without_family_shows_no_tree(stack: DashboardStack, page: Page) -> None:
    lone = stack.client.submit("noop", {})
    open_drilldown(page, stack, lone.id)
    expect(page.locator(".drill-state .task-state")).to_be_visible()
    expect(page.locator(".task-tree")).to_be_hidden()
