"""``agency workflow ...`` through the API, in-process (typer's runner) against a real control
plane and worker: run a file and a saved definition, list, show, approve, reject, retry,
cancel, in text and ``--json``, and the errors' exit codes."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agency.cli import app
from agency.models import Role
from agency.testing import ADMIN, Stack, serve

runner = CliRunner()
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "workflows"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with serve(tmp_path_factory.mktemp("cli-workflows"), workers=1) as s:
        yield s


def cli(stack: Stack, *args: str, token: str = ADMIN) -> tuple[int, str]:
    result = runner.invoke(app, [*args, "--url", stack.url, "--token", token])
    return result.exit_code, result.output


def test_run_a_file_save_run_by_name_approve_reject_and_list(stack: Stack, tmp_path: Path) -> None:
    code, out = cli(stack, "workflow", "run", str(EXAMPLES / "parallel-docs.json"), "--wait")
    assert code == 0, out
    assert "parallel-docs run" in out and "succeeded" in out and "assemble: succeeded" in out

    code, out = cli(stack, "workflow", "save", str(EXAMPLES / "pr-deployment.json"))
    assert code == 0 and "pr-deployment: revision 1, 3 steps" in out, out
    code, out = cli(stack, "workflow", "run", "pr-deployment", "-p", "ref=pr-7", "--json")
    assert code == 0, out
    run = json.loads(out)
    assert run["params"]["ref"] == "pr-7" and run["revision"] == 1
    rid = run["id"]
    operator = stack.token("opal", Role.OPERATOR)
    code, out = cli(stack, "workflow", "show", rid, "--json")
    version = json.loads(out)["version"]
    # the deploy waits for a second operator; a stale --version is refused
    runner_wait(stack, rid)
    code, out = cli(stack, "workflow", "approve", rid, "deploy", "--reason", "mine")
    assert code == 1 and "forbidden" in out, out  # admin submitted it: two-person rule
    code, out = cli(
        stack, "workflow", "approve", rid, "deploy", "--reason", "ok", "--version", "1",
        token=operator,
    )  # fmt: skip
    assert code == 1 and "version_conflict" in out and version >= 1, out
    code, out = cli(stack, "workflow", "reject", rid, "deploy", "--reason", "no", token=operator)
    assert code == 0 and "deploy: failed" in out, out

    code, out = cli(stack, "workflow", "list", "--json")
    assert code == 0
    names = [r["name"] for r in json.loads(out)]
    assert names[:2] == ["pr-deployment", "parallel-docs"]
    code, out = cli(stack, "workflow", "list", "--state", "failed")
    assert code == 0 and rid in out

    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps(
            {"name": "bad", "steps": [{"id": "a", "needs": ["b"], "task": {"kind": "noop"}}]}
        )
    )
    code, out = cli(stack, "workflow", "run", str(bad))
    assert code == 1 and "validation_error" in out and "'a'" in out, out
    code, out = cli(stack, "workflow", "run", "no-such-workflow")
    assert code == 1 and "not_found" in out


def test_retry_and_cancel(stack: Stack, tmp_path: Path) -> None:
    flow = tmp_path / "flow.json"
    flow.write_text(
        json.dumps(
            {
                "name": "cli-slow",
                "steps": [
                    {"id": "fail", "task": {"kind": "shell", "retry": {"max_attempts": 1},
                                            "spec": {"argv": ["sh", "-c", "exit 2"]}}},
                ],
            }
        )
    )  # fmt: skip
    code, out = cli(stack, "workflow", "run", str(flow), "--wait", "--json")
    assert code == 1 and json.loads(out)["state"] == "failed"
    rid = json.loads(out)["id"]
    code, out = cli(stack, "workflow", "retry", rid, "fail", "--reason", "again", "--json")
    assert code == 0 and json.loads(out)["steps"][0]["attempt"] == 2, out
    slow = tmp_path / "slow.json"
    slow.write_text(
        json.dumps(
            {"name": "cli-slow", "steps": [{"id": "s", "task": {"kind": "shell", "spec": {"argv": ["sleep", "60"]}}}]}
        )
    )  # fmt: skip
    code, out = cli(stack, "workflow", "run", str(slow), "--json")
    rid = json.loads(out)["id"]
    code, out = cli(stack, "workflow", "cancel", rid, "--reason", "not now")
    assert code == 0 and "cli-slow run" in out, out


def runner_wait(stack: Stack, run_id: str) -> None:
    with stack.client() as client:
        for _ in range(600):
            if client.workflow_run(run_id).state.value == "waiting_approval":
                return
            time.sleep(0.05)
    raise AssertionError("the run never waited for its approval")
