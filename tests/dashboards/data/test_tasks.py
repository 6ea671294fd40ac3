"""The Tasks page's data: filters, display rows, actions and their confirmations, submit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from agency.models import WorkerInfo
from agency_dashboards.data import tasks as td


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


def test_the_shell_command_is_split_like_a_shell() -> None:
    form = td.SubmitForm("shell", "sh -c 'echo a; echo b'")
    assert form.payload()["spec"] == {"argv": ["sh", "-c", "echo a; echo b"]}
    assert td.preview(form) == 'argv: ["sh", "-c", "echo a; echo b"]'
    bad = td.SubmitForm("shell", "echo 'a")
    with pytest.raises(ValueError, match="command: No closing quotation"):
        bad.payload()
    assert td.preview(bad).startswith("error: command:")
    with pytest.raises(ValueError, match="spec: not valid JSON"):
        td.SubmitForm("noop", "{oops").payload()


def test_rows_show_command_attempt_retries_duration_reason_and_relative_time() -> None:
    now = datetime(2026, 1, 2, 3, 10, 5, tzinfo=UTC)
    df = td.display_rows(
        [
            {
                "id": "a",
                "state": "running",
                "kind": "shell",
                "spec": {"argv": ["echo", "two words"]},
                "attempt": 2,
                "max_attempts": 3,
                "started_at": "2026-01-02T03:09:00Z",
                "created_at": "2026-01-02T03:04:05Z",
                "waiting_for": ["labels:gpu=h100"],
            }
        ],
        now=now,
    )
    row = df.loc[0]
    assert (row["command"], row["attempt"], row["retries"]) == ("echo 'two words'", "2/3", 1)
    assert row["duration"] == "1 min 5 s"
    assert row["reason"] == "waiting for labels:gpu=h100"
    assert row["created"] == '<span title="2026-01-02 03:04:05 UTC">6 min ago</span>'
    assert [td.relative(now - timedelta(seconds=n), now) for n in (5, 106, 7300, 200000)] == [
        "5 s ago",
        "1 min ago",
        "2 h ago",
        "2 d ago",
    ]
    assert td.reason_text("waiting for lock-a", ["lock-a"]) == "waiting for lock-a"


def test_the_filter_and_the_task_round_trip_through_the_address() -> None:
    flt = td.TaskFilter(states=("failed", "pending"), label="a=b", sort="-priority", limit=100)
    params = td.url_params(flt, "t1")
    assert params == {
        "state": "failed,pending",
        "label": "a=b",
        "sort": "-priority",
        "rows": "100",
        "task": "t1",
    }
    back = td.from_url(params)
    assert (back["states"], back["label"], back["sort"], back["limit"], back["task"]) == (
        ["failed", "pending"],
        "a=b",
        "-priority",
        100,
        "t1",
    )
    assert td.from_url({"state": "bogus", "sort": "drop table", "rows": "7"})["states"] == []
    assert td.bulk_words(flt) == "state failed or pending, label a=b"


def test_who_would_take_a_task() -> None:
    w1 = WorkerInfo(id="w1", url="http://x", kinds=["shell"], capacity=4, running=1)
    w2 = w1.model_copy(update={"id": "w2", "labels": {"gpu": "h100"}, "breaker": "open"})
    shell = td.SubmitForm("shell", "true")
    assert td.who_would_take([w1, w2], shell) == "would run on w1 (3/4 free)"
    gpu = td.SubmitForm("shell", "true", labels="gpu=h100")
    assert td.who_would_take([w1, w2], gpu) == "only unavailable workers fit: w2"
    assert td.who_would_take([w1], gpu) == "no worker carries kind shell with gpu=h100"


def test_cost_column_shows_usd_with_tokens_on_hover_and_blank_without_a_run() -> None:
    usage = {"input_tokens": 1200, "output_tokens": 300, "cost_usd": 0.5, "turns": 3}
    df = td.display_rows(
        [
            {"id": "a", "state": "succeeded", "created_at": "2026-01-02T03:04:05Z", "usage": usage},
            {"id": "b", "state": "succeeded", "created_at": "2026-01-02T03:04:05Z"},
        ]
    )
    assert ">$0.50</span>" in df.loc[0, "cost"]
    assert 'title="1,500 tokens · 3 turns · unknown model"' in df.loc[0, "cost"]
    assert df.loc[1, "cost"] == ""
    assert [td.cost_text(c) for c in (0, 0.004, 0.0123, 1234.5)] == [
        "$0.00",
        "$0.0040",
        "$0.01",
        "$1,234.50",
    ]
