"""A gated task end to end through the HTTP API and ``AgencyClient`` with a real worker:
a placeholder in the files it writes gets it ``rejected`` (verdict ``changes_requested``);
the operator who asked for the waiver cannot approve it (403, audited); a second operator
can, and the task ends ``succeeded`` with the verdict ``waived``. Every step is an event
with its actor."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from agency.client import AgencyClient
from agency.errors import Forbidden
from agency.models import Role, TaskState, WaiverState
from agency.testing import Stack, serve

# built at run time, so this file itself does not trip the repository's own lint gate
MARKER = "PLACE" + "HOLDER"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    data = tmp_path_factory.mktemp("gates")
    with serve(data) as s:
        s.add_worker(data, worker_id="gate-1")
        yield s


def events_of(client: AgencyClient, resource_id: str) -> list[dict[str, Any]]:
    items = client.audit_page(resource_id=resource_id, limit=1000).items
    return [e.model_dump(mode="json") for e in sorted(items, key=lambda e: e.seq)]


def test_placeholder_rejected_then_waived_by_a_second_operator(stack: Stack) -> None:
    alice = AgencyClient(stack.url, stack.token("alice", Role.OPERATOR))
    bob = AgencyClient(stack.url, stack.token("bob", Role.OPERATOR))
    with alice, bob:
        code = f"def total(xs):\n    return sum(xs)  # {MARKER}: handle overflow\n"
        gated = alice.submit(
            "shell",
            {"argv": ["sh", "-c", f"printf '{code}' > total.py"]},
            gates=["placeholders"],
            retry={"max_attempts": 1},
        )
        clean = alice.submit(
            "shell", {"argv": ["sh", "-c", "printf 'x = 1\\n' > ok.py"]}, gates=["placeholders"]
        )
        done, ok = alice.wait(gated.id, timeout=30), alice.wait(clean.id, timeout=30)
        assert ok.state is TaskState.SUCCEEDED and ok.verdict == "approved"
        assert done.state is TaskState.REJECTED and done.verdict == "changes_requested"
        rejected = [e for e in events_of(alice, gated.id) if e["action"] == "task.rejected"]
        assert len(rejected) == 1 and rejected[0]["actor"] == "gate-1"
        assert rejected[0]["verdict"] == "changes_requested"
        findings = rejected[0]["details"]["findings"]
        assert findings and any(f["path"].endswith("total.py") for f in findings), findings

        waiver = alice.request_waiver(gated.id, "overflow handled upstream, ticket 42")
        assert waiver.requested_by == "alice" and waiver.state is WaiverState.REQUESTED
        with pytest.raises(Forbidden) as refused:
            alice.decide_waiver(waiver.id, True, "my own waiver")
        assert refused.value.status == 403
        assert alice.task(gated.id).task.state is TaskState.REJECTED  # nothing moved

        decided = bob.decide_waiver(waiver.id, True, "reviewed the finding")
        assert decided.state is WaiverState.APPROVED and decided.decided_by == "bob"
        final = bob.wait(gated.id, timeout=10)
        assert final.state is TaskState.SUCCEEDED and final.verdict == "waived"

        steps = [(e["action"], e["actor"]) for e in events_of(bob, waiver.id)]
        assert steps == [
            ("waiver.requested", "alice"),
            ("waiver.refused", "alice"),
            ("waiver.approved", "bob"),
        ]
        task_steps = [(e["action"], e["actor"], e["verdict"]) for e in events_of(bob, gated.id)]
        assert task_steps[0] == ("task.created", "alice", None)
        assert task_steps[-2:] == [
            ("task.rejected", "gate-1", "changes_requested"),
            ("task.succeeded", "bob", "waived"),
        ]
        assert all(actor for _, actor, _ in task_steps)
        listed = bob.waivers(task_id=gated.id)
        assert listed["state"].tolist() == ["approved"] and listed["decided_by"].tolist() == ["bob"]
        assert bob.verify_audit().ok
