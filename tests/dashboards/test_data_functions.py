"""The dashboard's pure data functions: allowlist, filters, confirmations, cancel steps, charts."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pytest

from dashboards import drilldown_data as dd
from dashboards import kpis
from dashboards import queries_data as qd
from dashboards import tasks_data as td
from dashboards.connection import HostRefused, backend_from_env, check_url


def test_allowlist_accepts_loopback_and_refuses_other_hosts() -> None:
    env = {"AGENCY_ALLOWED_HOSTS": "127.0.0.1,ops.internal"}
    assert check_url("http://127.0.0.1:8080/", env) == "http://127.0.0.1:8080"
    assert check_url("https://OPS.internal", env) == "https://OPS.internal"
    with pytest.raises(HostRefused, match=r"169\.254\.169\.254"):
        check_url("http://169.254.169.254/latest", env)
    with pytest.raises(HostRefused, match="not an http"):
        check_url("file:///etc/passwd", env)


def test_backend_from_env_defaults_and_refusal() -> None:
    backend = backend_from_env({"AGENCY_URL": "http://localhost:9000", "AGENCY_TOKEN": "t0k"})
    assert (backend.url, backend.token) == ("http://localhost:9000", "t0k")
    assert backend_from_env({}).url == "http://127.0.0.1:8080"
    with pytest.raises(HostRefused, match="AGENCY_ALLOWED_HOSTS"):
        backend_from_env({"AGENCY_URL": "http://evil.example:80"})


def test_filter_query_passes_only_set_filters() -> None:
    after = datetime(2026, 1, 1, tzinfo=UTC)
    flt = td.TaskFilter(
        states=("running",), worker=" w1 ", label="", text="x", created_after=after, limit=250
    )
    assert flt.query() == {
        "sort": "-created_at",
        "limit": 250,
        "state": ["running"],
        "worker": "w1",
        "text": "x",
        "created_after": after,
    }
    assert td.TaskFilter().query() == {"sort": "-created_at", "limit": 50}


def test_display_rows_shapes_models_and_frames() -> None:
    df = td.display_rows(
        [
            {
                "id": "a",
                "state": "running",
                "kind": "shell",
                "labels": {"b": "2", "a": "1"},
                "created_at": "2026-01-02T03:04:05Z",
                "priority": 0,
                "attempt": 1,
            }
        ]
    )
    assert list(df.columns) == td.COLUMNS
    assert df.loc[0, "labels"] == "a=1, b=2"
    assert df.loc[0, "created_at"] == "2026-01-02 03:04:05"
    assert td.display_rows([]).empty
    # the API writes whole seconds without a fraction: one page can mix both ISO forms
    mixed = td.display_rows(
        [
            {"id": "a", "state": "pending", "created_at": "2026-11-22T04:42:20Z"},
            {"id": "b", "state": "pending", "created_at": "2026-11-22T04:42:20.5Z"},
        ]
    )
    assert list(mixed["created_at"]) == ["2026-11-22 04:42:20", "2026-11-22 04:42:20"]


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ("pending", {"cancel", "pause"}),
        ("paused", {"cancel", "resume"}),
        ("running", {"cancel"}),
        ("canceling", set()),
        ("failed", {"retry"}),
        ("succeeded", set()),
    ],
)
def test_allowed_actions(state: str, expected: set[str]) -> None:
    assert td.allowed_actions(state) == expected


def test_confirm_text_names_task_worker_and_consequence() -> None:
    text = td.confirm_text({"id": "t1", "state": "running", "worker_id": "w9"}, "cancel", grace=5)
    assert (
        "t1" in text
        and "w9" in text
        and "SIGTERM" in text
        and "SIGKILL after 5 s" in text
        and "canceled" in text
    )
    assert "never runs" in td.confirm_text({"id": "t2", "state": "pending"}, "cancel")
    assert "pending" in td.confirm_text({"id": "t3", "state": "failed"}, "retry")
    with pytest.raises(ValueError):
        td.confirm_text({"id": "t4", "state": "pending"}, "explode")


def test_submit_form_payloads() -> None:
    assert td.SubmitForm("shell", "sleep 600", "team=ops, env = dev", 5).payload() == {
        "kind": "shell",
        "spec": {"argv": ["sleep", "600"]},
        "labels": {"team": "ops", "env": "dev"},
        "priority": 5,
    }
    assert td.SubmitForm("agent", "summarise the logs").payload()["spec"] == {
        "prompt": "summarise the logs"
    }
    assert td.SubmitForm("noop", '{"sleep": 0.1}').payload()["spec"] == {"sleep": 0.1}


def _timeline(*actions: str) -> pd.DataFrame:
    return dd.timeline_rows(
        [
            {"seq": i, "ts": f"2026-01-01T00:00:0{i}", "actor": "op", "action": a, "details": {}}
            for i, a in enumerate(actions)
        ]
    )


def test_cancel_steps_follow_the_lifecycle() -> None:
    assert dd.cancel_steps(_timeline("task.created", "task.running"), "running") == []
    marks = [
        m
        for _, m, _ in dd.cancel_steps(
            _timeline("task.created", "task.running", "task.cancel_requested"), "cancel_requested"
        )
    ]
    assert marks == ["✓", "…", "○"]
    done = dd.cancel_steps(
        _timeline("task.running", "task.cancel_requested", "task.canceling", "task.canceled"),
        "canceled",
    )
    assert [m for _, m, _ in done] == ["✓", "✓", "✓"]
    raced = dd.cancel_steps(
        _timeline("task.running", "task.cancel_requested", "task.succeeded"), "succeeded"
    )
    assert [m for _, m, _ in raced] == ["✓", "✗", "○"]


def test_tile_values_from_a_snapshot() -> None:
    snap = {
        "by_state": {"pending": 3, "running": 2, "succeeded": 10},
        "success_rate": 0.955,
        "run_p95_ms": 1234.4,
        "tasks_per_min": 12.0,
        "queue_depth": 3,
    }
    assert kpis.total_tasks(snap) == 15
    assert kpis.tile_value(snap, "tasks") == ("15", "2 running")
    assert kpis.tile_value(snap, "success_rate")[0] == "95.5%"
    assert kpis.tile_value(snap, "run_p95_ms")[0] == "1,234 ms"
    assert kpis.tile_value({}, "success_rate")[0] == "-"


def test_query_params_and_charts() -> None:
    assert qd.parse_params("state=running, limit=10, ratio=0.5") == {
        "state": "running",
        "limit": 10,
        "ratio": 0.5,
    }
    with pytest.raises(ValueError, match="name=value"):
        qd.parse_params("oops")
    assert qd.chart_for(pd.DataFrame({"state": ["a", "b"], "n": [1, 2]})) is not None
    assert qd.chart_for(pd.DataFrame({"n": [1, 2]})) is None
    assert qd.chart_for(pd.DataFrame({"state": ["a"] * 500, "n": range(500)})) is None
