"""The worker protocol against a real ``agency worker`` process: run, output, idempotency,
errors, the sandbox, secrets and the agent kind."""

from __future__ import annotations

import concurrent.futures
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from agency.models import WorkerOutput, WorkerStatus, WorkerTaskStatus
from agency.testing import WorkerProc, wait_state
from tests.worker.common import SECRET_VALUE


@pytest.fixture
def client(worker: WorkerProc) -> Iterator[httpx.Client]:
    with worker.client() as c:
        yield c


def tid() -> str:
    return uuid.uuid4().hex[:12]


def shell(task_id: str, argv: list[str], **spec: Any) -> dict[str, Any]:
    return {"task_id": task_id, "attempt": 1, "kind": "shell", "spec": {"argv": argv, **spec}}


def read_all(client: httpx.Client, task_id: str, stream: str, limit: int = 65536) -> str:
    """Follow the output from offset 0 until eof, as a live reader would."""
    out, offset = [], 0
    for _ in range(1000):
        chunk = WorkerOutput.model_validate(
            client.get(
                f"/task/{task_id}/output",
                params={"stream": stream, "offset": offset, "limit": limit},
            ).json()
        )
        assert chunk.offset == offset
        out.append(chunk.data)
        offset = chunk.next_offset
        if chunk.eof:
            return "".join(out)
    raise AssertionError("output never reached eof")


def test_health_needs_no_token_but_everything_else_does(worker: WorkerProc) -> None:
    assert httpx.get(worker.url + "/health").json() == {"status": "ok"}
    bare = httpx.get(worker.url + "/status")
    assert bare.status_code == 401 and bare.json()["error"]["code"] == "unauthorized"
    wrong = httpx.get(worker.url + "/status", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert httpx.get(worker.url + "/openapi.json").status_code == 401


def test_status_and_openapi(client: httpx.Client, worker: WorkerProc) -> None:
    status = WorkerStatus.model_validate(client.get("/status").json())
    assert status.id == worker.worker_id and status.capacity == 4
    assert status.kinds == ["agent", "noop", "shell"] and not status.draining
    assert status.sandbox in ("bwrap", "none")
    spec = client.get("/openapi.json").json()
    for path in (
        "/health",
        "/status",
        "/task",
        "/task/{task_id}",
        "/task/{task_id}/output",
        "/task/{task_id}/cancel",
        "/shutdown",
    ):
        assert path in spec["paths"], path
    assert "WorkerTaskRequest" in spec["components"]["schemas"]
    assert spec["paths"]["/task"]["post"]["requestBody"]["content"]["application/json"][
        "schema"
    ] == {"$ref": "#/components/schemas/WorkerTaskRequest"}


def test_shell_task_runs_to_completion_with_exit_code_and_output(client: httpx.Client) -> None:
    t = tid()
    resp = client.post(
        "/task",
        json=shell(t, ["sh", "-c", "echo hello; echo oops >&2; echo made > out.txt; exit 3"]),
    )
    assert resp.status_code == 201, resp.text
    assert resp.json()["state"] == "running" and resp.json()["pid"] > 0
    final = WorkerTaskStatus.model_validate(wait_state(client, t))
    assert final.state == "failed" and final.exit_code == 3 and final.reason == "exit code 3"
    assert final.started_at and final.finished_at and final.finished_at >= final.started_at
    assert final.changed_files == ["out.txt"]
    assert read_all(client, t, "stdout") == "hello\n"
    assert read_all(client, t, "stderr") == "oops\n"


def test_output_is_followed_from_offsets_in_small_pieces(client: httpx.Client) -> None:
    t = tid()
    client.post("/task", json=shell(t, ["sh", "-c", "printf 'héllo wörld ✓\\n%.0s' $(seq 1 50)"]))
    wait_state(client, t)
    # 7-byte reads cut through multi-byte characters: no piece may split one
    text = read_all(client, t, "stdout", limit=7)
    assert text == "héllo wörld ✓\n" * 50
    past = client.get(f"/task/{t}/output", params={"offset": 10_000}).json()
    assert past["data"] == "" and past["eof"] is True


def test_noop_is_final_inline_and_a_repeat_answers_200(client: httpx.Client) -> None:
    t = tid()
    first = client.post("/task", json={"task_id": t, "kind": "noop", "spec": {}})
    assert (
        first.status_code == 201
        and first.json()["state"] == "succeeded"
        and first.json()["exit_code"] == 0
    )
    again = client.post("/task", json={"task_id": t, "kind": "noop", "spec": {}})
    assert again.status_code == 200 and again.json() == first.json()
    failing = client.post(
        "/task", json={"task_id": tid(), "kind": "noop", "spec": {"exit_code": 2}}
    )
    assert failing.json()["state"] == "failed" and failing.json()["exit_code"] == 2


def test_a_repeated_post_never_starts_a_second_process(
    client: httpx.Client, worker: WorkerProc
) -> None:
    t = tid()
    # every start appends a line to a marker file in the workspace
    body = shell(t, ["sh", "-c", "echo started >> marker; sleep 0.5"])
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = list(
            pool.map(
                lambda _: httpx.post(worker.url + "/task", json=body, headers=worker.headers),
                range(8),
            )
        )
    codes = sorted(a.status_code for a in answers)
    assert codes == [200] * 7 + [201], codes
    # a repeat that arrives while the process is being spawned sees it without a pid yet
    assert len({a.json()["pid"] for a in answers} - {None}) == 1
    wait_state(client, t)
    late = client.post("/task", json=body)
    assert late.status_code == 200 and late.json()["state"] == "succeeded"
    marker = worker.data_dir / "workspaces" / f"{t}-1" / "marker"
    assert marker.read_text() == "started\n"
    # a new attempt is a new run
    second = client.post("/task", json={**body, "attempt": 2})
    assert second.status_code == 201
    wait_state(client, t)
    assert (worker.data_dir / "workspaces" / f"{t}-2" / "marker").read_text() == "started\n"
    assert client.get(f"/task/{t}").json()["attempt"] == 2
    assert client.get(f"/task/{t}", params={"attempt": 1}).json()["attempt"] == 1


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"kind": "bogus", "spec": {}}, "unknown task kind 'bogus'"),
        ({"kind": "shell", "spec": {}}, "argv"),
        ({"kind": "shell", "spec": {"argv": ["true"], "timeout": -1}}, "timeout"),
        ({"kind": "noop", "spec": {"unexpected": 1}}, "unexpected"),
    ],
)
def test_a_bad_spec_is_400_with_a_clear_message(
    client: httpx.Client, body: dict[str, Any], needle: str
) -> None:
    resp = client.post("/task", json={"task_id": tid(), **body})
    assert resp.status_code == 400
    err = resp.json()["error"]
    assert err["code"] == "invalid_spec" and needle in err["message"]


def test_a_bad_envelope_and_unknown_tasks(client: httpx.Client) -> None:
    resp = client.post("/task", content=b"{not json")
    assert resp.status_code == 400 and resp.json()["error"]["code"] == "invalid_spec"
    resp = client.post("/task", json={"task_id": "../x", "kind": "noop"})
    assert resp.status_code == 400 and "task_id" in resp.json()["error"]["message"]
    for call in (
        client.get("/task/nope"),
        client.get("/task/nope/output"),
        client.post("/task/nope/cancel"),
    ):
        assert call.status_code == 404 and call.json()["error"]["code"] == "not_found"


def test_a_program_that_does_not_exist_fails_the_task(client: httpx.Client) -> None:
    t = tid()
    resp = client.post(
        "/task",
        json=shell(
            t,
            ["/no/such/program"],
        ),
    )
    final = wait_state(client, t)
    assert resp.status_code == 201 and final["state"] == "failed"
    assert final["exit_code"] in (1, 127) and final["reason"]


def denied(client: httpx.Client, body: dict[str, Any]) -> dict[str, Any]:
    resp = client.post("/task", json=body)
    assert resp.status_code == 403, resp.text
    err = resp.json()["error"]
    assert err["code"] == "sandbox_denied"
    return err


def test_paths_outside_the_roots_are_refused(client: httpx.Client, worker: WorkerProc) -> None:
    t = tid()
    err = denied(client, shell(t, ["cat", "passwd"], cwd="../../etc"))
    assert (
        err["details"]["path"] == "../../etc" and err["details"]["rule"] == "outside-allowed-roots"
    )
    status = client.get(f"/task/{t}").json()
    assert status["state"] == "failed" and status["denials"][0]["path"] == "../../etc"
    assert status["denials"][0]["rule"] == "outside-allowed-roots"
    deep = "../" * 30 + "etc/passwd"
    err = denied(client, shell(tid(), ["true"], files=["notes.txt", deep]))
    assert err["details"]["path"] == deep and err["details"]["resolved"] == "/etc/passwd"
    err = denied(client, shell(tid(), ["true"], cwd="/etc"))
    assert err["details"]["resolved"] == "/etc"
    # a symlink inside the root that points out of it is followed, then refused
    link = worker.data_dir / "workspaces" / "escape"
    link.symlink_to("/etc")
    err = denied(client, shell(tid(), ["true"], cwd="../escape"))
    assert err["details"]["resolved"] == "/etc"
    # a path that stays inside the roots is fine
    ok = client.post("/task", json=shell(tid(), ["pwd"], cwd="sub/dir"))
    assert ok.status_code == 201


def test_a_sandboxed_task_cannot_write_outside_its_workspace(
    client: httpx.Client, worker: WorkerProc, tmp_path: Path
) -> None:
    if client.get("/status").json()["sandbox"] != "bwrap":
        pytest.skip("bubblewrap does not work on this machine")
    outside = tmp_path / "outside.txt"
    probe = Path("/etc") / f"agency-sandbox-probe-{tid()}"
    t = tid()
    client.post(
        "/task",
        json=shell(
            t,
            [
                "sh",
                "-c",
                f"echo x > {outside}; echo $? ; echo y > {probe}; echo $?; "
                "echo z > inside.txt && echo inside-ok",
            ],
        ),
    )
    try:
        final = wait_state(client, t)
        assert final["state"] == "succeeded"
        assert read_all(client, t, "stdout").split() == ["2", "2", "inside-ok"]
        assert "Read-only file system" in read_all(client, t, "stderr")
        assert not outside.exists() and not probe.exists()
        assert (worker.data_dir / "workspaces" / f"{t}-1" / "inside.txt").read_text() == "z\n"
    finally:
        probe.unlink(missing_ok=True)


def test_the_task_env_is_minimal_and_secrets_are_masked(client: httpx.Client) -> None:
    t = tid()
    script = 'echo "key=$API"; echo "home=$HOME"; env | grep -c "^AGENCY_SECRET" || true; echo "$API" >&2'
    client.post("/task", json=shell(t, ["sh", "-c", script], env={"API": "${secret:API_KEY}"}))
    final = wait_state(client, t)
    assert final["state"] == "succeeded"
    out = read_all(client, t, "stdout")
    assert SECRET_VALUE not in out and "key=***" in out
    assert out.splitlines()[2] == "0"  # no worker secret leaks into the task's env
    assert out.splitlines()[1].endswith(f"/workspaces/{t}-1")
    assert read_all(client, t, "stderr") == "***\n"


def test_a_missing_secret_is_a_400_naming_it(client: httpx.Client) -> None:
    resp = client.post("/task", json=shell(tid(), ["true"], env={"X": "${secret:NOPE}"}))
    assert resp.status_code == 400 and "NOPE" in resp.json()["error"]["message"]


def test_the_agent_kind_passes_the_prompt_as_one_argument(client: httpx.Client) -> None:
    t = tid()
    prompt = "fix the bug; rm -rf / $(whoami) 'quoted' \"double\""
    resp = client.post("/task", json={"task_id": t, "kind": "agent", "spec": {"prompt": prompt}})
    assert resp.status_code == 201, resp.text
    assert wait_state(client, t)["state"] == "succeeded"
    assert read_all(client, t, "stdout").splitlines() == ["'--model'", "'test'", repr(prompt)]


@pytest.fixture
def many(worker: WorkerProc) -> Callable[[int], list[httpx.Response]]:
    def post(n: int) -> list[httpx.Response]:
        with worker.client() as c:
            return [
                c.post("/task", json={"task_id": tid(), "kind": "noop", "spec": {}})
                for _ in range(n)
            ]

    return post


def test_many_noops_do_not_write_state_files(
    many: Callable[[int], list[httpx.Response]], worker: WorkerProc
) -> None:
    tasks_dir = worker.data_dir / "workers" / worker.worker_id / "tasks"
    before = len(os.listdir(tasks_dir))
    assert all(r.status_code == 201 for r in many(200))
    assert len(os.listdir(tasks_dir)) == before
