"""``agency schedule ...`` through the API, in-process (typer's runner) against a real control
plane and worker: every command in text and ``--json``, and the errors' exit codes."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from agency.cli import app
from agency.models import Role
from agency.testing import ADMIN, Stack, serve

runner = CliRunner()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with serve(tmp_path_factory.mktemp("cli-schedules"), workers=1) as s:
        yield s


def cli(stack: Stack, *args: str, token: str = ADMIN, stdin: str | None = None) -> tuple[int, str]:
    opts = ["--url", stack.url, "--token", token]
    argv = list(args)
    cut = argv.index("--") if "--" in argv else len(argv)  # options before a literal argv
    result = runner.invoke(app, [*argv[:cut], *opts, *argv[cut:]], input=stdin)
    return result.exit_code, result.output


def test_add_list_show_edit_pause_resume_trigger_fires_rm(stack: Stack) -> None:
    code, out = cli(
        stack, "schedule", "add", "cli-nightly", "30 2 * * *", "shell",
        "--tz", "Europe/Berlin", "--overlap", "forbid", "--priority", "3", "--json",
        "--", "echo", "scheduled",
    )  # fmt: skip
    assert code == 0, out
    made = json.loads(out)
    assert made["task"]["spec"] == {"argv": ["echo", "scheduled"]}
    assert made["task"]["priority"] == 3 and made["overlap"] == "forbid"
    assert len(made["next_fires"]) == 5

    code, out = cli(stack, "schedule", "list")
    assert code == 0 and "cli-nightly" in out and "30 2 * * *" in out
    code, out = cli(stack, "schedule", "list", "--json")
    assert [s["name"] for s in json.loads(out)] == ["cli-nightly"]
    assert json.loads(out)[0]["next_fire"].startswith(made["next_fires"][0][:16])

    code, out = cli(stack, "schedule", "edit", "cli-nightly", "--cron", "0 3 * * *", "--json")
    assert code == 0 and json.loads(out)["revision"] == 2
    code, out = cli(stack, "schedule", "pause", "cli-nightly", "--reason", "freeze")
    assert code == 0 and "paused" in out
    code, out = cli(stack, "schedule", "resume", made["id"])
    assert code == 0 and "next " in out

    code, out = cli(stack, "schedule", "trigger", "cli-nightly", "--json")
    assert code == 0, out
    fire = json.loads(out)
    assert fire["manual"] and fire["task_id"]
    stack.burst()
    code, out = cli(stack, "schedule", "show", "cli-nightly")
    assert code == 0 and "next fires:" in out and f"task {fire['task_id']} succeeded" in out
    code, out = cli(stack, "schedule", "show", "cli-nightly", "--json")
    shown = json.loads(out)
    assert shown["schedule"]["last_fire"]["task_id"] == fire["task_id"]
    assert [f["task_id"] for f in shown["fires"]] == [fire["task_id"]]
    code, out = cli(stack, "schedule", "fires", "cli-nightly")
    assert code == 0 and fire["task_id"] in out and "succeeded" in out
    code, out = cli(stack, "schedule", "fires", "cli-nightly", "--json")
    assert [f["state"] for f in json.loads(out)] == ["succeeded"]

    code, out = cli(stack, "schedule", "rm", "cli-nightly", stdin="n\n")
    assert code == 1 and "Aborted" in out
    code, out = cli(stack, "schedule", "rm", "cli-nightly", stdin="y\n")
    assert code == 0 and "deleted cli-nightly" in out
    code, out = cli(stack, "schedule", "list")
    assert code == 0 and "(no schedules)" in out


def test_a_skipped_trigger_exits_1(stack: Stack) -> None:
    code, out = cli(
        stack, "schedule", "add", "cli-long", "0 0 1 1 *", "noop",
        "--spec", '{"sleep": 60}', "--overlap", "forbid", "--label", "team=ops",
    )  # fmt: skip
    assert code == 0, out
    try:
        code, out = cli(stack, "schedule", "show", "cli-long", "--json")
        assert json.loads(out)["schedule"]["task"]["labels"] == {"team": "ops"}
        assert cli(stack, "schedule", "trigger", "cli-long")[0] == 0
        code, out = cli(stack, "schedule", "trigger", "cli-long")
        assert code == 1 and "skipped (overlap)" in out
        code, out = cli(stack, "schedule", "fires", "cli-long", "--json")
        assert [f["skipped_reason"] for f in json.loads(out)] == ["overlap", None]
    finally:
        for task in stack.client().tasks(label="schedule=cli-long").itertuples():
            stack.client().cancel(task.id, "test over")
        cli(stack, "schedule", "rm", "cli-long", "--yes")


def test_bad_input_and_roles(stack: Stack) -> None:
    code, out = cli(stack, "schedule", "add", "cli-bad", "61 * * * *", "noop")
    assert code == 1 and "validation_error" in out and "body.cron" in out
    code, out = cli(stack, "schedule", "add", "cli-bad", "* * * * *", "noop", "--overlap", "often")
    assert code == 2
    code, out = cli(stack, "schedule", "add", "cli-bad", "* * * * *", "noop", "--label", "x")
    assert code == 2 and "--label must be key=value" in out
    code, out = cli(stack, "schedule", "show", "nope")
    assert code == 1 and "not_found" in out
    code, out = cli(stack, "schedule", "edit", "nope")
    assert code == 2 and "nothing to change" in out
    code, out = cli(stack, "schedule", "edit", "nope", "--task", "{")
    assert code == 2 and "--task is not JSON" in out
    viewer = stack.token("cli-viewer", Role.VIEWER)
    assert cli(stack, "schedule", "list", token=viewer)[0] == 0
    code, out = cli(stack, "schedule", "add", "cli-v", "@daily", "noop", token=viewer)
    assert code == 1 and "forbidden" in out
