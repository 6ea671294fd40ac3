"""``/api/v1/runbooks/runs``: recording names the token, every record is an audit event."""

from __future__ import annotations

from agency.models import Role
from agency.testing import Stack

RUNS = "/api/v1/runbooks/runs"


def test_a_record_names_its_token_and_appends_a_runbook_run_event(stack: Stack) -> None:
    token = stack.token("vic", Role.VIEWER)
    body = {
        "name": "fleet_health",
        "parameters": {"hours": 2.0},
        "status": "succeeded",
        "output_path": "/tmp/out.ipynb",
        "duration_s": 1.5,
    }
    with stack.http(token) as http:
        r = http.post(RUNS, json=body)
        assert r.status_code == 201, r.text
        run = r.json()
        assert (
            run["actor"] == "vic"
            and run["status"] == "succeeded"
            and run["parameters"] == {"hours": 2.0}
        )
        assert http.get(f"{RUNS}/{run['id']}").json() == run
        listed = http.get(RUNS, params={"name": "fleet_health", "actor": "vic"}).json()
        assert [x["id"] for x in listed] == [run["id"]]
    events = stack.client().audit(action="runbook.run", resource_id=run["id"])
    assert len(events) == 1
    ev = events.iloc[0]
    assert ev["actor"] == "vic" and ev["resource_type"] == "runbook"
    assert ev["details"]["name"] == "fleet_health" and ev["details"]["status"] == "succeeded"


def test_the_body_cannot_claim_an_actor_or_a_made_up_status(stack: Stack) -> None:
    with stack.http(stack.token("vic", Role.VIEWER)) as http:
        forged = http.post(RUNS, json={"name": "x", "status": "failed", "actor": "someone-else"})
        assert forged.status_code == 422 and forged.json()["error"]["code"] == "validation_error"
        assert http.post(RUNS, json={"name": "x", "status": "done"}).status_code == 422
        assert http.post(RUNS, json={"name": "", "status": "failed"}).status_code == 422
        assert http.get(f"{RUNS}/nope").status_code == 404


def test_runs_need_a_token(stack: Stack) -> None:
    with stack.http(None) as http:
        assert http.get(RUNS).status_code == 401
        assert http.post(RUNS, json={"name": "x", "status": "failed"}).status_code == 401


def test_runs_are_listed_newest_first_and_filtered_by_status(stack: Stack) -> None:
    with stack.http(stack.token("olga", Role.OPERATOR)) as http:
        ids = [
            http.post(RUNS, json={"name": "order_check", "status": s}).json()["id"]
            for s in ("failed", "succeeded", "failed")
        ]
        listed = http.get(RUNS, params={"name": "order_check"}).json()
        assert [x["id"] for x in listed] == ids[::-1]
        failed = http.get(RUNS, params={"name": "order_check", "status": "failed"}).json()
        assert [x["id"] for x in failed] == [ids[2], ids[0]]
        assert len(http.get(RUNS, params={"name": "order_check", "limit": 1}).json()) == 1
