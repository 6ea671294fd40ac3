"""``agency task|token|audit list`` through the API, in-process (typer's runner) against a
real control plane and worker."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from agency.cli import app
from agency.testing import ADMIN, Stack, serve

runner = CliRunner()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with serve(tmp_path_factory.mktemp("cli"), workers=1) as s:
        yield s


def cli(stack: Stack, *args: str, token: str = ADMIN) -> tuple[int, str]:
    opts = ["--url", stack.url, "--token", token]
    argv = list(args)
    cut = argv.index("--") if "--" in argv else len(argv)  # options before a literal argv
    result = runner.invoke(app, [*argv[:cut], *opts, *argv[cut:]])
    return result.exit_code, result.output


def test_task_submit_wait_show_list_watch(stack: Stack) -> None:
    code, out = cli(stack, "task", "submit", "shell", "--wait", "--json", "--", "echo", "from-cli")
    assert code == 0, out
    task = json.loads(out)
    assert task["state"] == "succeeded" and task["spec"] == {"argv": ["echo", "from-cli"]}
    code, out = cli(stack, "task", "show", task["id"], "--json")
    assert code == 0 and json.loads(out)["timeline"][-1]["action"] == "task.succeeded"
    code, out = cli(stack, "task", "show", task["id"])
    assert code == 0 and "task.succeeded" in out and "attempt 1" in out
    code, out = cli(stack, "task", "list", "--state", "succeeded", "--json")
    assert code == 0 and task["id"] in [t["id"] for t in json.loads(out)]
    code, out = cli(stack, "task", "list", "--kind", "shell")
    assert code == 0 and task["id"] in out and "succeeded" in out
    code, out = cli(stack, "task", "watch", task["id"])  # finished: replays then exits 0
    assert code == 0 and "task.created" in out and "task.succeeded" in out


def test_task_cancel_and_errors(stack: Stack) -> None:
    code, out = cli(
        stack, "task", "submit", "shell", "--json", "--label", "pool=none", "--", "true"
    )
    task = json.loads(out)  # no worker has pool=none: it waits
    code, out = cli(stack, "task", "cancel", task["id"], "--reason", "cli test", "--json")
    assert code == 0 and json.loads(out)["state"] == "canceled"
    code, out = cli(stack, "task", "show", "nope")
    assert code == 1 and "not_found" in out
    code, out = cli(stack, "task", "submit", "shell", "--spec", "not json")
    assert code == 2 and "JSON" in out
    code, out = cli(stack, "task", "submit", "shell", "--", "true", token="bad")
    assert code == 1 and "unauthorized" in out


def test_tokens_and_audit(stack: Stack) -> None:
    code, out = cli(stack, "token", "create", "--name", "cli-viewer", "--role", "viewer", "--json")
    assert code == 0, out
    created = json.loads(out)
    secret, token_id = created["secret"], created["token"]["id"]
    code, out = cli(stack, "task", "list", token=secret)
    assert code == 0
    code, out = cli(stack, "task", "submit", "noop", token=secret)
    assert code == 1 and "forbidden" in out
    code, out = cli(stack, "token", "list", "--json")
    assert any(t["id"] == token_id for t in json.loads(out))
    code, out = cli(stack, "token", "revoke", token_id)
    assert code == 0 and "revoked" in out
    code, out = cli(stack, "task", "list", token=secret)
    assert code == 1 and "unauthorized" in out
    code, out = cli(stack, "token", "create", "--name", "x", "--role", "king")
    assert code == 2
    code, out = cli(stack, "audit", "list", "--resource-type", "token", "--json")
    actions = [e["action"] for e in json.loads(out)]
    assert "token.created" in actions and "token.revoked" in actions
    code, out = cli(stack, "audit", "list", "--action", "token.revoked")
    assert code == 0 and "token.revoked" in out and "admin" in out
