"""The worker's pure parts in process: path checks, argv building, output capture, config."""

from __future__ import annotations

import asyncio
import os
import subprocess
import uuid
from pathlib import Path

import httpx
import pytest

from agency.errors import ConfigError, InvalidSpec
from agency.security.keystore import EnvKeystore
from agency.security.redaction import Redactor
from agency.settings import Settings
from agency.worker import capture, prepare, procs
from agency.worker.app import create_worker_app
from agency.worker.config import WorkerConfig, parse_labels
from agency.worker.fastpath import TaskFastPath
from agency.worker.runtime import WorkerRuntime
from agency.worker.sandbox import RULE_OUTSIDE_ROOTS, Sandbox, check_paths
from agency.worker.secrets import resolve_task_env


def test_paths_are_resolved_before_they_are_checked(tmp_path: Path) -> None:
    root = (tmp_path / "root").resolve()
    ws = root / "t-1"
    ws.mkdir(parents=True)
    (ws / "out").symlink_to("/etc")
    (ws / "in").symlink_to(root)
    checked = check_paths(
        ws,
        [
            "a/b",
            ".",
            "..",
            "../x",
            "in",
            "../../elsewhere",
            "/etc/passwd",
            "out/passwd",
            "a/../../../z",
        ],
        (root,),
    )
    assert [(d.path, d.resolved) for d in checked] == [
        ("../../elsewhere", str(tmp_path.resolve() / "elsewhere")),
        ("/etc/passwd", "/etc/passwd"),
        ("out/passwd", "/etc/passwd"),
        ("a/../../../z", str(tmp_path.resolve() / "z")),
    ]
    assert {d.rule for d in checked} == {RULE_OUTSIDE_ROOTS}
    # a sibling whose name merely starts like the root is outside it
    assert check_paths(ws, [str(root) + "-evil"], (root,))


def test_sandbox_off_wraps_nothing(tmp_path: Path) -> None:
    box = Sandbox((tmp_path,), "off")
    assert box.kind == "none" and not box.refuses_processes and box.process_name is None
    assert box.wrap(["true"], tmp_path, tmp_path, []) == ["true"]


def test_required_sandbox_without_bwrap_refuses(tmp_path: Path) -> None:
    box = Sandbox((tmp_path,), "required", bwrap="/nonexistent/bwrap")
    assert box.kind == "unavailable" and box.refuses_processes
    assert box.unavailable_reason


def test_agent_argv_keeps_the_prompt_whole() -> None:
    prompt = "say 'hi'; rm -rf / && echo $HOME `id`"
    assert prepare.agent_argv("claude -p {prompt}", prompt) == ["claude", "-p", prompt]
    assert prepare.agent_argv("agent --prompt={prompt} --json", prompt) == [
        "agent",
        f"--prompt={prompt}",
        "--json",
    ]
    assert prepare.agent_argv("agent run", prompt) == ["agent", "run", prompt]
    assert prepare.agent_argv("'my agent' -p {prompt}", "{prompt}") == [
        "my agent",
        "-p",
        "{prompt}",
    ]
    with pytest.raises(InvalidSpec):
        prepare.agent_argv("agent 'unclosed", prompt)
    with pytest.raises(InvalidSpec):
        prepare.agent_argv("   ", prompt)


def test_effective_timeout_is_the_earlier_limit() -> None:
    assert prepare.effective_timeout(None, None) is None
    assert prepare.effective_timeout(5.0, None) == 5.0
    assert prepare.effective_timeout(5.0, 2.0) == 2.0
    assert prepare.effective_timeout(None, -1.0) == -1.0


def test_labels_and_config(tmp_path: Path) -> None:
    assert parse_labels("a=1, b = two ,,") == {"a": "1", "b": "two"}
    with pytest.raises(ConfigError):
        parse_labels("novalue")
    s = Settings.load(
        env={}, data_dir=tmp_path, worker_roots=f"{tmp_path}/r1:{tmp_path}/r2", worker_port=9
    )
    cfg = WorkerConfig.from_settings(s)
    assert cfg.roots == ((tmp_path / "r1").resolve(), (tmp_path / "r2").resolve())
    assert (
        cfg.workspace_root == cfg.roots[0]
        and cfg.id.endswith("-9")
        and cfg.url == "http://127.0.0.1:9"
    )
    default = WorkerConfig.from_settings(
        Settings.load(env={}, data_dir=tmp_path, worker_id="w/1"), port=5
    )
    assert default.roots == (tmp_path.resolve() / "workspaces",)
    assert default.state_dir == tmp_path.resolve() / "workers" / "w_1"


async def _pump(data: list[bytes], path: Path, redactor: Redactor | None) -> None:
    reader = asyncio.StreamReader()
    for chunk in data:
        reader.feed_data(chunk)
    reader.feed_eof()
    await capture.pump(reader, path, redactor)


async def test_pump_masks_a_secret_split_across_reads(tmp_path: Path) -> None:
    r = Redactor()
    r.add("hunter2-secret")
    out = tmp_path / "stdout"
    # the value arrives in three pieces, and a multi-byte character is split too
    await _pump([b"pass=hun", b"ter2-sec", b"ret \xc3", b"\xa9t\xc3\xa9\n"], out, r)
    assert out.read_text() == "pass=*** été\n"


def test_read_output_never_splits_a_character(tmp_path: Path) -> None:
    path = tmp_path / "stdout"
    path.write_text("aé✓b")  # 1 + 2 + 3 + 1 bytes
    pieces, offset = [], 0
    for _ in range(20):
        chunk = capture.read_output("t", "stdout", path, offset, 2, finished=True)
        pieces.append(chunk.data)
        offset = chunk.next_offset
        if chunk.eof:
            break
    assert "".join(pieces) == "aé✓b" and "\ufffd" not in "".join(pieces)
    running = capture.read_output("t", "stdout", path, 7, 10, finished=False)
    assert running.data == "" and not running.eof and running.next_offset == 7
    missing = capture.read_output("t", "stderr", None, 0, 10, finished=True)
    assert missing.eof and missing.data == ""


def test_secret_refs_resolve_from_the_keystore() -> None:
    ks = EnvKeystore({"AGENCY_SECRET_TOKEN": "abcd-1234"})
    env, redactor = resolve_task_env({"A": "x${secret:TOKEN}y", "B": "plain"}, lambda: ks)
    assert env == {"A": "xabcd-1234y", "B": "plain"}
    assert redactor.redact("see abcd-1234") == "see ***"
    with pytest.raises(InvalidSpec, match="MISSING"):
        resolve_task_env({"A": "${secret:MISSING}"}, lambda: ks)


async def test_stop_group_kills_children_and_ignores_zombies() -> None:
    proc = subprocess.Popen(
        ["sh", "-c", "trap '' TERM; sleep 600 & sleep 600"], start_new_session=True
    )
    try:
        for _ in range(200):
            if len(procs.group_members(proc.pid)) >= 3:
                break
            await asyncio.sleep(0.01)
        members = procs.group_members(proc.pid)
        assert len(members) == 3 and procs.start_time(proc.pid)
        assert await procs.stop_group(proc.pid, grace=0.2)
        # the leader is a zombie until we reap it: it does not count as alive
        assert not procs.group_alive(proc.pid)
        assert not any(procs.pid_alive(p) for p in members)
    finally:
        proc.kill()
        proc.wait()
    assert procs.group_members(os.getpgid(0))  # our own group is alive


async def test_the_fastapi_route_and_the_fast_path_answer_alike(tmp_path: Path) -> None:
    config = WorkerConfig.from_settings(
        Settings.load(env={}, data_dir=tmp_path, worker_id="inproc"), port=1
    )
    config.make_dirs()
    runtime = WorkerRuntime(config, Sandbox(config.roots, "off"))
    plain = create_worker_app(runtime)
    for app in (plain, TaskFastPath(plain, runtime)):
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://w"
        ) as c:
            task_id = uuid.uuid4().hex
            first = await c.post("/task", json={"task_id": task_id, "kind": "noop"})
            again = await c.post("/task", json={"task_id": task_id, "kind": "noop"})
            bad = await c.post("/task", json={"task_id": "x", "kind": "nope"})
            assert (first.status_code, again.status_code, bad.status_code) == (201, 200, 400)
            assert first.json()["state"] == "succeeded" and first.json() == again.json()
            assert bad.json()["error"]["code"] == "invalid_spec"
            assert (await c.get(f"/task/{task_id}")).json()["state"] == "succeeded"
