"""``/schedules`` in chat: every schedule with its next and last fire, or one with its fires,
for any role (it only reads)."""

from __future__ import annotations

import httpx
import pytest

from agency.models import Role
from agency.testing import Stack
from tests.api.test_chat_ws import exchange, new_session, open_ws

# the chat suites' control plane (its users: victor the viewer, ...)
pytestmark = pytest.mark.plane("limits")

NOOP = {"kind": "noop", "spec": {}}


def test_schedules_lists_them_and_shows_one_with_its_fires(
    stack: Stack, admin: httpx.Client, viewer: httpx.Client
) -> None:
    sid = new_session(viewer, "schedules chat")
    with open_ws(stack, sid, token=stack.token("victor", Role.VIEWER)) as ws:
        assert exchange(ws, "/schedules")[1]["content"] == "No schedules."
        body = {"name": "chat-nightly", "cron": "30 2 * * *", "timezone": "Europe/Berlin"}
        made = admin.post("/api/v1/schedules", json={**body, "task": NOOP}).json()
        paused = {"name": "chat-paused", "cron": "@hourly", "paused": True, "task": NOOP}
        admin.post("/api/v1/schedules", json=paused)
        fired = admin.post(f"/api/v1/schedules/{made['id']}/trigger").json()

        listing = str(exchange(ws, "/schedules")[1]["content"])
        lines = listing.splitlines()
        nightly = next(line for line in lines if line.startswith("chat-nightly"))
        assert "30 2 * * *" in nightly and "Europe/Berlin" in nightly and "active" in nightly
        assert ":30 CE" in nightly  # the next fire, read in the schedule's own zone
        assert "paused" in next(line for line in lines if line.startswith("chat-paused"))

        one = str(exchange(ws, "/schedules chat-nightly")[1]["content"])
        assert one.startswith(f"chat-nightly ({made['id']}), revision 1, active")
        assert "next fires: " in one and one.count(" CE") >= 5
        assert fired["task_id"] in one and "manual" in one

        missing = str(exchange(ws, "/schedules nope")[1]["content"])
        assert missing.startswith("/schedules failed (not_found)")
        assert "/schedules [name]" in str(exchange(ws, "/help")[1]["content"])
    for name in ("chat-nightly", "chat-paused"):
        admin.delete(f"/api/v1/schedules/{name}")
