"""The secret-leak search: a secret a task prints is masked everywhere the system keeps or
shows anything.

A secret is seeded in a file keystore in the test's data dir, shared by the control plane
and its real worker. A shell task gets it as ``TOKEN=${secret:NAME}`` and prints it on
stdout and stderr. Then every way to read the task back (API bodies, SSE, chat, user SQL),
every log (caplog of the in-process control plane, the worker's captured stdout/stderr at
DEBUG) and every file under the data dir after everything stopped (the DuckDB file raw and
through SQL, worker state and output files, logs) is searched for the value: none holds it.
The masked output must contain ``***``, so the test fails if the task never saw the value.
"""

from __future__ import annotations

import logging
import secrets
from pathlib import Path

import duckdb
import httpx
import pytest
from cryptography.fernet import Fernet

from agency.client import AgencyClient
from agency.security.filestore import FileKeystore
from agency.testing import ADMIN, serve
from tests.e2e.security.fleet import V1, sse_events, submit, wait_task

NAME = "deploy_token"
TASK_ENV = {"TOKEN": "${secret:" + NAME + "}"}
PRINTS = ["sh", "-c", "echo $TOKEN; echo $TOKEN >&2; echo done"]


def files_holding(root: Path, needle: bytes) -> tuple[list[str], int]:
    """Files under ``root`` whose raw bytes contain ``needle``, and how many files were read."""
    hits, read = [], 0
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            read += 1
            if needle in path.read_bytes():
                hits.append(str(path.relative_to(root)))
    return hits, read


def duckdb_text(db: Path) -> str:
    """Every row of every table of the (closed) DuckDB file as text: compression in the file
    could hide a value from a raw byte search, SQL cannot."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        tables = [
            r[0]
            for r in con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'"
            ).fetchall()
        ]
        assert {"tasks", "events", "task_output"} <= set(tables), tables
        return "\n".join(
            f"{t}: {row!r}"
            for t in tables
            for row in con.execute(f'SELECT * FROM "{t}"').fetchall()
        )
    finally:
        con.close()


def test_a_printed_secret_is_masked_everywhere(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    data = tmp_path / "data"
    data.mkdir()
    master = Fernet.generate_key().decode()
    value = "e2e-" + secrets.token_hex(16)
    FileKeystore(data / "secrets.enc", master_key=master).set_secret(NAME, value)
    bodies: list[str] = []  # every API answer (and chat reply) read below
    worker_env = {
        "AGENCY_KEYSTORE": "file",
        "AGENCY_MASTER_KEY": master,
        "AGENCY_LOG_LEVEL": "DEBUG",
    }

    with serve(data, keystore="file", master_key=master) as stack:
        worker = stack.add_worker(data, env=worker_env, worker_id="sec-1")
        with stack.http() as http:
            task_id = submit(
                http,
                {
                    "kind": "shell",
                    "spec": {"argv": PRINTS, "env": TASK_ENV},
                    "secrets": [NAME],
                    "retry": {"max_attempts": 1},
                },
            )
            detail = wait_task(http, task_id)
            assert detail["task"]["state"] == "succeeded", detail["task"]
            out = {
                s: http.get(f"{V1}/tasks/{task_id}/output", params={"stream": s})
                for s in ("stdout", "stderr")
            }
            assert "***" in out["stdout"].json()["data"] and "done" in out["stdout"].json()["data"]
            assert "***" in out["stderr"].json()["data"]
            reads: list[httpx.Response] = [
                *out.values(),
                http.get(f"{V1}/tasks/{task_id}"),
                http.get(f"{V1}/tasks", params={"limit": 100}),
                http.get(f"{V1}/audit", params={"limit": 1000}),
                http.get(f"{V1}/tasks/{task_id}/replay"),
                http.get(f"{V1}/workers"),
                http.post(f"{V1}/query", json={"sql": "SELECT * FROM task_output"}),
                http.get("/metrics"),
            ]
            for r in reads:
                assert r.status_code == 200, (r.request.url, r.text)
                bodies.append(r.text)
            assert "***" in reads[-2].text  # user SQL over the stored output sees the mask
        raw_sse: list[str] = []
        events = sse_events(
            stack.url,
            ADMIN,
            {"after": 0, "resource_id": task_id},
            lambda e: e["action"] == "task.succeeded",
            raw=raw_sse,
        )
        assert events and events[-1]["action"] == "task.succeeded", events
        bodies.append("\n".join(raw_sse))
        client = AgencyClient(stack.url, ADMIN)
        with client, client.chat(client.create_session(title="leak").session_id) as chat:
            listed = chat.ask("/tasks", timeout=30)
            assert task_id in listed, listed
            sql = chat.ask("/sql SELECT stream, data FROM task_output", timeout=30)
            assert "***" in sql, sql
            bodies += [listed, sql]
        worker_log = worker.log

    # everything is stopped: the store is closed, so the DuckDB file is complete on disk
    assert worker_log.stat().st_size > 0  # the worker's stdout/stderr, logged at DEBUG
    leaks = [i for i, body in enumerate(bodies) if value in body]
    assert leaks == [], f"the secret is in API answers {leaks}"
    logged = [r for r in caplog.records if value in r.getMessage() or value in str(r.args)]
    assert logged == [] and value not in caplog.text
    hits, read = files_holding(data, value.encode())
    assert hits == [], f"the secret is on disk in {hits}"
    assert read >= 5 and (data / "agency.duckdb").exists(), sorted(p.name for p in data.rglob("*"))
    stored = duckdb_text(data / "agency.duckdb")
    assert task_id in stored and "***" in stored  # the dump holds the task and its masked output
    assert value not in stored
    # the keystore file holds the secret encrypted; the key decrypts it back (not a false pass)
    assert FileKeystore(data / "secrets.enc", master_key=master).get_secret(NAME) == value
