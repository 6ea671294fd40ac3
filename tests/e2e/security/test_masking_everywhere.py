"""Secrets masked everywhere text from users is stored, not only in chat (issue 21, item 3):
a keystore value and an ``sk-`` key sent in a task's spec and labels, a saved query, a
schedule and the reasons of actions are stored masked, the sender is told in the
``Agency-Masked`` header, and the secret-leak search finds neither anywhere afterwards. A
secret in a spec's ``env`` is refused, naming the field: the task needs its env as given,
and ``${secret:NAME}`` references are the way."""

from __future__ import annotations

import secrets
from pathlib import Path

from cryptography.fernet import Fernet

from agency.security.filestore import FileKeystore
from agency.testing import serve
from tests.e2e.security.test_secret_leak import duckdb_text, files_holding


def test_secrets_sent_anywhere_are_stored_masked(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    master = Fernet.generate_key().decode()
    value = "kept-" + secrets.token_hex(16)
    sk = "sk-" + secrets.token_hex(20)
    both = f"{value} and {sk}"
    with serve(data, keystore="file", master_key=master) as stack:
        FileKeystore(data / "secrets.enc", master_key=master).set_secret("api_secret", value)
        stack.call(stack.plane.learn_secrets)
        with stack.http() as http:
            made = http.post(
                "/api/v1/tasks",
                json={
                    "kind": "agent",
                    "spec": {
                        "prompt": f"deploy with {both}",
                        "env": {"KEY": "${secret:api_secret}"},
                    },
                    "labels": {"note": sk},
                },
            )
            assert made.status_code == 201, made.text
            assert made.headers["agency-masked"] == "keystore secret, API key (sk-)"
            task = made.json()
            assert task["spec"]["prompt"] == "deploy with *** and ***"
            assert task["spec"]["env"] == {"KEY": "${secret:api_secret}"}  # a reference stays
            assert task["labels"] == {"note": "***"}

            refused = http.post(
                "/api/v1/tasks", json={"kind": "shell", "spec": {"argv": ["env"], "env": {"T": sk}}}
            )
            assert refused.status_code == 422, refused.text
            error = refused.json()["error"]
            assert (
                error["details"]["field"] == "spec.env.T" and "${secret:NAME}" in error["message"]
            )
            assert sk not in refused.text

            plain = http.post("/api/v1/tasks", json={"kind": "noop", "spec": {}})
            assert "agency-masked" not in plain.headers  # nothing masked: nothing said

            cancel = http.post(f"/api/v1/tasks/{task['id']}/cancel", json={"reason": both})
            assert cancel.status_code == 200 and "agency-masked" in cancel.headers

            query = http.post(
                "/api/v1/queries",
                json={"name": "leaky", "sql": f"SELECT '{sk}' AS k", "description": value},
            )
            assert query.status_code == 201, query.text
            assert (
                query.json()["sql"] == "SELECT '***' AS k" and query.json()["description"] == "***"
            )
            assert query.headers["agency-masked"]
            adhoc = http.post("/api/v1/query", json={"sql": f"SELECT '{value}' AS v"})
            assert adhoc.status_code == 200, adhoc.text
            assert value not in adhoc.text and adhoc.headers["agency-masked"] == "keystore secret"

            schedule = http.post(
                "/api/v1/schedules",
                json={
                    "name": "nightly",
                    "cron": "0 3 * * *",
                    "paused": True,
                    "task": {"kind": "shell", "spec": {"argv": ["curl", "-H", f"Bearer {sk}"]}},
                },
            )
            assert schedule.status_code == 201, schedule.text
            assert schedule.headers["agency-masked"] == "bearer header"
            assert schedule.json()["task"]["spec"]["argv"] == ["curl", "-H", "***"]
            bad = http.post(
                "/api/v1/schedules",
                json={
                    "name": "leaky-env",
                    "cron": "0 3 * * *",
                    "task": {"kind": "shell", "spec": {"argv": ["env"], "env": {"K": value}}},
                },
            )
            assert (
                bad.status_code == 422 and bad.json()["error"]["details"]["field"] == "spec.env.K"
            )
            resumed = http.post("/api/v1/schedules/nightly/resume", json={"reason": both})
            assert resumed.status_code == 200, resumed.text

            alert = stack.call(lambda: stack.plane.alerts.raise_once("test", "an alert"))
            assert alert is not None
            ack = http.post(f"/api/v1/alerts/{alert.id}/acknowledge", json={"reason": both})
            assert ack.status_code == 200 and ack.headers["agency-masked"], ack.text
            stored = http.get("/api/v1/audit", params={"limit": 1000}).text
    assert value not in stored and sk not in stored
    for needle in (value, sk):
        hits, read = files_holding(data, needle.encode())
        assert read > 0 and hits == [], hits
        assert needle not in duckdb_text(data / "agency.duckdb")
