"""Data of a task's family in the drill-down: its parent, and its children down the tree.

The tree is read breadth-first through ``AgencyClient.children`` (the ``parent_id`` filter of
the task list), bounded in nodes and depth so a huge delegation never stalls the page.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from agency.client import AgencyClient

MAX_NODES = 200
MAX_DEPTH = 8


@dataclass(frozen=True)
class Node:
    """One task of the tree: ``depth`` 1 is a direct child of the task shown."""

    id: str
    kind: str
    state: str
    depth: int
    parent_id: str


@dataclass
class Tree:
    """The shown task's parent (id and state, or None) and its descendants, depth first."""

    task_id: str
    parent: tuple[str, str] | None = None
    nodes: list[Node] = field(default_factory=list)
    truncated: bool = False

    @property
    def empty(self) -> bool:
        return self.parent is None and not self.nodes


def load_tree(client: AgencyClient, task: dict[str, Any]) -> Tree:
    """The family of ``task`` (a task as JSON, as the drill-down holds it)."""
    tree = Tree(task_id=task["id"])
    parent_id = task.get("parent_id")
    if parent_id:
        tree.parent = (parent_id, client.task(parent_id).task.state.value)
    tree.nodes, tree.truncated = _descendants(client, task["id"])
    return tree


def _descendants(client: AgencyClient, root: str) -> tuple[list[Node], bool]:
    children: dict[str, list[Node]] = {}
    frontier, count, truncated = [(root, 0)], 0, False
    while frontier:
        parent, depth = frontier.pop(0)
        if depth >= MAX_DEPTH:
            truncated = True
            continue
        kids = client.children(parent, limit=min(500, MAX_NODES - count + 1))
        if count + len(kids) > MAX_NODES:
            kids, truncated = kids[: MAX_NODES - count], True
        count += len(kids)
        children[parent] = [
            Node(k.id, k.kind, k.state.value, depth + 1, parent) for k in kids
        ]
        frontier.extend((k.id, depth + 1) for k in kids)
        if count >= MAX_NODES:
            truncated = truncated or bool(frontier)
            break
    ordered: list[Node] = []

    def walk(task_id: str) -> None:
        for node in children.get(task_id, []):
            ordered.append(node)
            walk(node.id)

    walk(root)
    return ordered, truncated


def label(node: Node) -> str:
    """A node's line: indented by depth, with kind and state."""
    return f"{'  ' * (node.depth - 1)}↳ {node.id} · {node.kind} · {node.state}"
