"""Workflow runs through the API against a real control plane and a real worker (no sandbox,
so the pids a step prints are the host's): a diamond with output passing, a fan-out over 20
then a fan-in, approval and rejection (with the two-person rule), stale versions refused, a
cancel mid-run that leaves no process behind, retry, replay, saved definitions, and bad
definitions answered 4xx naming the step."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from agency.models import Role
from agency.testing import Stack, pid_alive, serve, wait_for


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("wf")
    with serve(root / "cp") as s:
        s.add_worker(root / "w", capacity=8, sandbox="off")
        yield s


@pytest.fixture(scope="module")
def second(stack: Stack) -> Iterator[httpx.Client]:
    """Another operator than ``operator`` (the two-person rule)."""
    with stack.http(stack.token("otto", Role.OPERATOR)) as c:
        yield c


def sh(script: str, **task: Any) -> dict[str, Any]:
    return {"kind": "shell", "spec": {"argv": ["sh", "-c", script]}, **task}


def submit(http: httpx.Client, steps: list[dict[str, Any]], **body: Any) -> dict[str, Any]:
    r = http.post("/api/v1/workflows/runs", json={"name": "t", "steps": steps, **body})
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


def final(http: httpx.Client, run_id: str, timeout: float = 60) -> dict[str, Any]:
    run: dict[str, Any] = {}

    def done() -> bool:
        nonlocal run
        run = http.get(f"/api/v1/workflows/runs/{run_id}").json()
        return run["state"] in ("succeeded", "failed", "canceled")

    wait_for(done, timeout, "the run to be final", every=0.05)
    return run


def in_state(http: httpx.Client, run_id: str, state: str, timeout: float = 30) -> dict[str, Any]:
    run: dict[str, Any] = {}

    def there() -> bool:
        nonlocal run
        run = http.get(f"/api/v1/workflows/runs/{run_id}").json()
        return bool(run["state"] == state)

    wait_for(there, timeout, f"the run to be {state}", every=0.05)
    return run


def steps(run: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["id"]: s for s in run["steps"]}


def output(http: httpx.Client, step: dict[str, Any]) -> str:
    [task_id] = step["task_ids"]
    return str(http.get(f"/api/v1/tasks/{task_id}/output").json()["data"]).strip()


def test_a_diamond_passes_outputs_and_replays_consistently(operator: httpx.Client) -> None:
    run = submit(
        operator,
        [
            {"id": "a", "task": sh("""echo '{"n": 21, "tags": ["x", "y"]}'""")},
            {"id": "b", "needs": ["a"], "task": sh("echo $(({{ steps.a.json.n }} * 2))")},
            {"id": "c", "needs": ["a"], "task": sh("echo c-{{ steps.a.json.tags.1 }}")},
            {
                "id": "d",
                "needs": ["b", "c"],
                "task": sh("echo '{{ steps.b.output }}+{{ steps.c.output }}+{{ params.p }}'"),
            },
        ],
        params={"p": "pp"},
    )
    assert run["state"] in ("pending", "running") and run["version"] >= 1
    done = final(operator, run["id"])
    assert done["state"] == "succeeded", [(s["id"], s["state"], s["reason"]) for s in done["steps"]]
    by = steps(done)
    assert [by[s]["state"] for s in "abcd"] == ["succeeded"] * 4
    assert output(operator, by["d"]) == "42+c-y+pp"
    # b and c ran side by side after a, d after both
    assert by["b"]["started_at"] >= by["a"]["finished_at"]
    assert by["d"]["started_at"] >= max(by["b"]["finished_at"], by["c"]["finished_at"])
    replay = operator.get(f"/api/v1/workflows/runs/{run['id']}/replay").json()
    assert replay["consistent"] is True and replay["differences"] == [], replay
    events = operator.get(
        "/api/v1/audit", params={"resource_type": "workflow_run", "resource_id": run["id"]}
    ).json()["items"]
    assert len(events) == done["version"]  # one event per transition, created included
    assert operator.get("/api/v1/audit/verify").json()["ok"] is True


def test_fan_out_over_20_items_then_fan_in(operator: httpx.Client) -> None:
    items = [f"part-{i:02d}" for i in range(20)]
    run = submit(
        operator,
        [
            {"id": "write", "map": "{{ params.items }}", "task": sh("echo doc-{{ item }}")},
            {
                "id": "join",
                "needs": ["write"],
                "task": {
                    "kind": "shell",
                    "spec": {
                        "argv": [
                            "python3",
                            "-c",
                            "import json,sys; p=json.loads(sys.argv[1]); print(len(p), p[0], p[-1])",
                            "{{ steps.write.output }}",
                        ]
                    },
                },
            },
        ],
        params={"items": items},
    )
    done = final(operator, run["id"], 120)
    assert done["state"] == "succeeded", done
    by = steps(done)
    assert len(by["write"]["task_ids"]) == 20 == len(set(by["write"]["task_ids"]))
    assert output(operator, by["join"]) == "20 doc-part-00 doc-part-19"


def test_approval_by_a_second_operator_and_a_rejection(
    operator: httpx.Client, second: httpx.Client, viewer: httpx.Client
) -> None:
    gate = {"role": "operator", "distinct_from_submitter": True}
    flow = [
        {"id": "build", "task": sh("echo built")},
        {"id": "deploy", "needs": ["build"], "approval": gate, "task": sh("echo deployed")},
        {"id": "notify", "needs": ["deploy"], "task": sh("echo notified")},
    ]
    run = submit(operator, flow)
    waiting = in_state(operator, run["id"], "waiting_approval")
    assert steps(waiting)["deploy"]["state"] == "waiting_approval"
    assert steps(waiting)["deploy"]["task_ids"] == []
    url = f"/api/v1/workflows/runs/{run['id']}/steps/deploy"
    # the submitter may not approve their own run's gate; a viewer may not decide at all
    r = operator.post(f"{url}/approve", json={"reason": "mine"})
    assert r.status_code == 403 and r.json()["error"]["details"]["step"] == "deploy", r.text
    assert viewer.post(f"{url}/approve", json={"reason": "x"}).status_code == 403
    assert operator.post(f"{url}/approve", json={}).status_code == 422  # a reason is required
    r = second.post(f"{url}/approve", json={"reason": "change window open"})
    assert r.status_code == 200, r.text
    done = final(operator, run["id"])
    assert done["state"] == "succeeded" and steps(done)["deploy"]["decided_by"] == "otto"
    audit = operator.get(
        "/api/v1/audit", params={"resource_type": "workflow_run", "resource_id": run["id"]}
    ).json()["items"]
    actions = {e["action"]: e for e in audit}
    assert actions["workflow.decision_refused"]["actor"] == "olga"
    approved = actions["workflow.step_approved"]
    assert approved["actor"] == "otto"
    assert approved["details"]["decision_reason"] == "change window open"

    run = submit(operator, flow)
    in_state(operator, run["id"], "waiting_approval")
    url = f"/api/v1/workflows/runs/{run['id']}/steps/deploy"
    r = second.post(f"{url}/reject", json={"reason": "tests are flaky"})
    assert r.status_code == 200, r.text
    done = final(operator, run["id"])
    by = steps(done)
    assert done["state"] == "failed"
    assert by["deploy"]["state"] == "failed" and "tests are flaky" in by["deploy"]["reason"]
    assert by["notify"]["state"] == "skipped" and by["notify"]["task_ids"] == []


def test_a_stale_version_is_refused_with_the_current_one(
    operator: httpx.Client, second: httpx.Client
) -> None:
    gate = {"role": "operator"}
    run = submit(operator, [{"id": "go", "approval": gate, "task": sh("echo go")}])
    seen = in_state(operator, run["id"], "waiting_approval")
    url = f"/api/v1/workflows/runs/{run['id']}/steps/go/approve"
    r = second.post(url, json={"reason": "ok", "version": seen["version"] - 1})
    assert r.status_code == 409, r.text
    err = r.json()["error"]
    assert err["code"] == "version_conflict"
    assert err["details"]["current_version"] == seen["version"]
    r = second.post(url, json={"reason": "ok"}, headers={"If-Match": '"1"'})
    assert (
        r.status_code == 412 and r.json()["error"]["details"]["current_version"] == seen["version"]
    )
    assert second.post(url, json={"reason": "ok"}, headers={"If-Match": "x"}).status_code == 400
    r = second.post(url, json={"reason": "ok"}, headers={"If-Match": f'"{seen["version"]}"'})
    assert r.status_code == 200, r.text
    assert r.headers["ETag"] == f'"{r.json()["version"]}"'
    assert final(operator, run["id"])["state"] == "succeeded"


def test_cancel_mid_run_leaves_no_process(operator: httpx.Client) -> None:
    run = submit(
        operator,
        [
            {"id": "first", "task": sh("echo first")},
            {
                "id": "slow",
                "needs": ["first"],
                "map": [1, 2, 3],
                "task": sh("echo $$; exec sleep 120"),
            },
            {"id": "after", "needs": ["slow"], "task": sh("echo never")},
        ],
    )
    pids: list[int] = []

    def printed() -> bool:
        nonlocal pids
        slow = steps(operator.get(f"/api/v1/workflows/runs/{run['id']}").json())["slow"]
        if len(slow["task_ids"]) != 3:
            return False
        outs = [
            operator.get(f"/api/v1/tasks/{t}/output").json()["data"].strip()
            for t in slow["task_ids"]
        ]
        pids = [int(o) for o in outs if o.isdigit()]
        return len(pids) == 3

    wait_for(printed, 30, "the pids", every=0.1)
    assert all(pid_alive(p) for p in pids)
    r = operator.post(f"/api/v1/workflows/runs/{run['id']}/cancel", json={"reason": "stop it"})
    assert r.status_code == 200, r.text
    assert r.json()["cancel_requested"] is True
    done = final(operator, run["id"], 30)
    by = steps(done)
    assert done["state"] == "canceled" and done["reason"] == "stop it"
    assert by["slow"]["state"] == "canceled" and by["after"]["state"] == "canceled"
    assert by["after"]["task_ids"] == []
    for task_id in by["slow"]["task_ids"]:
        task = operator.get(f"/api/v1/tasks/{task_id}").json()["task"]
        assert task["state"] == "canceled"
    assert not [p for p in pids if pid_alive(p)]
    again = operator.post(f"/api/v1/workflows/runs/{run['id']}/cancel", json={})
    assert again.status_code == 409


def test_retry_a_failed_step_then_the_run_succeeds(operator: httpx.Client, tmp_path: Path) -> None:
    flag = tmp_path / "ready"
    once = {"max_attempts": 1}
    run = submit(
        operator,
        [
            {"id": "check", "task": sh(f"test -f {flag} && echo ok", retry=once)},
            {"id": "use", "needs": ["check"], "task": sh("echo used {{ steps.check.output }}")},
        ],
    )
    done = final(operator, run["id"])
    assert done["state"] == "failed" and steps(done)["use"]["state"] == "skipped"
    first_task = steps(done)["check"]["task_ids"][0]
    flag.write_text("")
    url = f"/api/v1/workflows/runs/{run['id']}/steps/check/retry"
    assert operator.post(url, json={"version": done["version"] - 1}).status_code == 409
    r = operator.post(url, json={"reason": "flag created", "version": done["version"]})
    assert r.status_code == 200, r.text
    done = final(operator, run["id"])
    by = steps(done)
    assert done["state"] == "succeeded" and by["check"]["attempt"] == 2
    assert by["check"]["task_ids"][0] != first_task
    assert output(operator, by["use"]) == "used ok"
    assert operator.post(url, json={}).status_code == 409  # succeeded: nothing to retry
    replay = operator.get(f"/api/v1/workflows/runs/{run['id']}/replay").json()
    assert replay["consistent"] is True, replay


def test_when_failed_branch_and_always(operator: httpx.Client) -> None:
    once = {"max_attempts": 1}
    run = submit(
        operator,
        [
            {"id": "probe", "task": sh('echo \'{"err": "disk"}\'; exit 3', retry=once)},
            {"id": "ok_path", "needs": ["probe"], "task": sh("echo fine")},
            {
                "id": "heal",
                "needs": ["probe"],
                "when": "failed",
                "task": sh("echo healing {{ steps.probe.json.err }}"),
            },
            {"id": "report", "needs": ["ok_path", "heal"], "when": "always", "task": sh("echo r")},
        ],
    )
    done = final(operator, run["id"])
    by = steps(done)
    assert by["probe"]["state"] == "failed" and by["ok_path"]["state"] == "skipped"
    assert by["heal"]["state"] == "succeeded" and by["report"]["state"] == "succeeded"
    assert output(operator, by["heal"]) == "healing disk"
    assert done["state"] == "succeeded"  # the failure was handled by the recovery branch


@pytest.mark.parametrize(
    ("steps_", "step", "field", "words"),
    [
        (
            [
                {"id": "a", "needs": ["c"], "task": {"kind": "noop"}},
                {"id": "b", "needs": ["a"], "task": {"kind": "noop"}},
                {"id": "c", "needs": ["b"], "task": {"kind": "noop"}},
            ],
            "a",
            "steps[0].needs",
            "cycle",
        ),
        (
            [{"id": "a", "needs": ["ghost"], "task": {"kind": "noop"}}],
            "a",
            "steps[0].needs[0]",
            "ghost",
        ),
        (
            [
                {"id": "a", "task": {"kind": "noop"}},
                {"id": "b", "task": sh("echo {{ steps.a.output }}")},
            ],
            "b",
            "steps[1].task.spec.argv[2]",
            "does not depend",
        ),
        (
            [{"id": "a", "task": sh("echo {{ params.nope }}")}],
            "a",
            "steps[0].task.spec.argv[2]",
            "unknown param",
        ),
        (
            [{"id": "a", "task": sh("echo {{ os.system }}")}],
            "a",
            "steps[0].task.spec.argv[2]",
            "not a reference",
        ),
        (
            [{"id": "a", "task": sh("echo {{ item }}")}],
            "a",
            "steps[0].task.spec.argv[2]",
            "no map",
        ),
        (
            [{"id": "a", "task": {"kind": "noop"}}, {"id": "a", "task": {"kind": "noop"}}],
            "a",
            "steps[1].id",
            "twice",
        ),
    ],
)
def test_bad_definitions_answer_4xx_naming_the_step(
    operator: httpx.Client, steps_: list[dict[str, Any]], step: str, field: str, words: str
) -> None:
    for path in ("/api/v1/workflows/runs", "/api/v1/workflows"):
        r = operator.post(path, json={"name": "bad", "steps": steps_})
        assert r.status_code == 422, r.text
        err = r.json()["error"]
        assert err["details"]["step"] == step and err["details"]["field"] == field, err
        assert words in err["message"] and repr(step) in err["message"], err
    runs = operator.get("/api/v1/workflows/runs", params={"name": "bad"}).json()["items"]
    assert runs == []


def test_a_bad_task_template_names_its_field(operator: httpx.Client) -> None:
    r = operator.post(
        "/api/v1/workflows/runs",
        json={"name": "bad", "steps": [{"id": "a", "task": {"kind": "shell", "spec": {}}}]},
    )
    assert r.status_code == 422, r.text
    assert "steps" in r.text and "argv" in r.text


def test_saved_definitions_with_revisions_and_runs(
    operator: httpx.Client, viewer: httpx.Client
) -> None:
    body = {
        "name": "greet",
        "params": {"who": "world"},
        "steps": [{"id": "hi", "task": sh("echo hello {{ params.who }}")}],
    }
    r = operator.post("/api/v1/workflows", json=body)
    assert r.status_code == 201 and r.json()["revision"] == 1, r.text
    body["steps"][0]["task"] = sh("echo hi {{ params.who }}")
    assert operator.post("/api/v1/workflows", json=body).json()["revision"] == 2
    assert viewer.post("/api/v1/workflows", json=body).status_code == 403
    shown = viewer.get("/api/v1/workflows/greet").json()
    assert [rev["revision"] for rev in shown["revisions"]] == [1, 2]
    assert "greet" in [w["name"] for w in viewer.get("/api/v1/workflows").json()["items"]]
    r = operator.post("/api/v1/workflows/greet/run", json={"params": {"who": "ops"}})
    assert r.status_code == 201, r.text
    done = final(operator, r.json()["id"])
    assert done["revision"] == 2 and output(operator, steps(done)["hi"]) == "hi ops"
    r = operator.post("/api/v1/workflows/greet/run", json={"params": {"whom": "x"}})
    assert r.status_code == 422 and r.json()["error"]["details"]["field"] == "params.whom"
    assert operator.post("/api/v1/workflows/nope/run", json={}).status_code == 404
    assert viewer.post("/api/v1/workflows/greet/run", json={}).status_code == 403
    listed = viewer.get("/api/v1/workflows/runs", params={"name": "greet"}).json()["items"]
    assert [x["id"] for x in listed] == [done["id"]]
    assert viewer.get("/api/v1/workflows/runs/nope").status_code == 404


def test_the_client_and_its_builder(stack: Stack) -> None:
    from agency.client import Workflow

    wf = (
        Workflow("built", params={"n": 3})
        .shell("one", ["echo", "{{ params.n }}"])
        .shell("two", ["sh", "-c", "echo $(({{ steps.one.output }} + 1))"], needs=["one"])
    )
    with stack.client() as client:
        run = client.submit_workflow(wf, {"n": 41})
        done = client.wait_workflow(run.id, 60)
        assert done.state.value == "succeeded"
        assert client.workflow_run_list(name="built")[0].id == run.id
        df = client.workflow_runs(name="built")
        assert list(df["id"]) == [run.id] and "two:succeeded" in df["steps"][0]
        assert client.replay_workflow(run.id).consistent
        task_id = done.step("two").task_ids[0]
        assert client.output(task_id).data.strip() == "42"
    started = time.monotonic()
    with pytest.raises(Exception, match="cycle"):
        Workflow("loop").shell("a", ["true"], needs=["b"]).shell(
            "b", ["true"], needs=["a"]
        ).to_spec()
    assert time.monotonic() - started < 1
