"""The client package's promises without a server: public names, a light import (pandas and
pyarrow on demand), its own settings (a bad server-only variable does not matter), ids quoted
in every path, and bodies checked by the model the server parses them with."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

import agency.client
from agency.client import AgencyClient, AsyncAgencyClient, ClientSettings
from agency.client.settings import RunbookSettings
from agency.errors import ConfigError, NotFound, ValidationFailed
from agency.models import __version__
from agency.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def run_python(code: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return done.stdout


def test_all_is_sorted_and_importable() -> None:
    assert agency.client.__all__ == sorted(agency.client.__all__)
    for name in agency.client.__all__:
        assert getattr(agency.client, name) is not None


def test_importing_and_making_a_client_loads_neither_pandas_nor_pyarrow() -> None:
    code = (
        "import json, sys\n"
        "from agency.client import AgencyClient, AsyncAgencyClient\n"
        "AgencyClient('http://127.0.0.1:9', 't').close()\n"
        "AsyncAgencyClient('http://127.0.0.1:9', 't')\n"
        "print(json.dumps([m for m in ('pandas', 'pyarrow', 'agency.settings') if m in sys.modules]))\n"
    )
    assert json.loads(run_python(code)) == []


def test_a_dataframe_answer_loads_pandas_then() -> None:
    code = (
        "import json, sys, httpx\n"
        "from agency.client import AgencyClient\n"
        "answer = lambda r: httpx.Response(200, json=[])\n"
        "c = AgencyClient('http://h', 't', transport=httpx.MockTransport(answer))\n"
        "before = 'pandas' in sys.modules\n"
        "df = c.tokens()\n"
        "print(json.dumps([before, 'pandas' in sys.modules, list(df.columns)[:2]]))\n"
    )
    assert json.loads(run_python(code)) == [False, True, ["id", "name"]]


def test_a_bad_server_only_variable_does_not_break_the_client(tmp_path: Path) -> None:
    env = {"AGENCY_WRITE_BATCH_MAX": "banana", "AGENCY_URL": "http://example.test:1/"}
    with pytest.raises(ConfigError):
        Settings.load(env=env)  # the server refuses it...
    settings = ClientSettings.load(env={**env, "AGENCY_DATA_DIR": str(tmp_path)})
    assert settings.url == "http://example.test:1/" and settings.data_dir == tmp_path
    code = "from agency.client import AgencyClient\nprint(AgencyClient().url)\n"
    base = {k: v for k, v in os.environ.items() if not k.startswith("AGENCY_")}
    assert run_python(code, {**base, **env}).strip() == "http://example.test:1"  # ...not us


def test_client_settings_read_only_their_own_variables() -> None:
    env = {"AGENCY_TOKEN": "t0k", "AGENCY_RUNBOOK_TIMEOUT": "soon", "AGENCY_PORT": "x"}
    assert ClientSettings.load(env=env).token == "t0k"
    with pytest.raises(ConfigError, match="AGENCY_RUNBOOK_TIMEOUT"):
        RunbookSettings.load(env=env)
    assert RunbookSettings.load(env={}, runbook_timeout=5).runbook_timeout == 5.0


def test_client_settings_are_the_servers_names_defaults_and_help() -> None:
    for name, field in RunbookSettings.model_fields.items():
        server = Settings.model_fields[name]
        assert (field.default, field.description) == (server.default, server.description), name


def recorder(seen: list[httpx.Request]) -> httpx.MockTransport:
    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(404, json={"error": {"code": "not_found", "message": "no"}})

    return httpx.MockTransport(answer)


CALLS: list[tuple[str, Callable[[AgencyClient], object]]] = [
    ("/api/v1/tasks/a%2Fb%3Fc", lambda c: c.task("a/b?c")),
    ("/api/v1/tasks/a%2Fb%3Fc", lambda c: c.timeline("a/b?c")),
    ("/api/v1/tasks/a%2Fb%3Fc/output", lambda c: c.output("a/b?c")),
    ("/api/v1/tasks/a%2Fb%3Fc/cancel", lambda c: c.cancel("a/b?c")),
    ("/api/v1/tasks/a%2Fb%3Fc/actions", lambda c: c.act("a/b?c", "pause")),
    ("/api/v1/tasks/a%2Fb%3Fc/replay", lambda c: c.replay("a/b?c")),
    ("/api/v1/workers/a%2Fb%3Fc/drain", lambda c: c.drain_worker("a/b?c")),
    ("/api/v1/workers/a%2Fb%3Fc", lambda c: c.remove_worker("a/b?c")),
    ("/api/v1/waivers/a%2Fb%3Fc/decide", lambda c: c.decide_waiver("a/b?c", True, "ok")),
    ("/api/v1/tokens/a%2Fb%3Fc", lambda c: c.revoke_token("a/b?c")),
    ("/api/v1/chat/session/a%2Fb%3Fc/messages", lambda c: c.messages("a/b?c")),
    ("/api/v1/queries/a%2Fb%3Fc", lambda c: c.get_query("a/b?c")),
    ("/api/v1/queries/a%2Fb%3Fc", lambda c: c.update_query("a/b?c", sql="SELECT 1")),
    ("/api/v1/queries/a%2Fb%3Fc", lambda c: c.delete_query("a/b?c")),
    ("/api/v1/queries/a%2Fb%3Fc/revisions", lambda c: c.query_revisions("a/b?c")),
    ("/api/v1/queries/a%2Fb%3Fc/runs", lambda c: c.query_runs("a/b?c")),
    ("/api/v1/queries/a%2Fb%3Fc/run", lambda c: c.run_query("a/b?c")),
    ("/api/v1/queries/a%2Fb%3Fc/run", lambda c: c.run_query_result("a/b?c")),
    ("/api/v1/alerts/a%2Fb%3Fc/acknowledge", lambda c: c.acknowledge_alert("a/b?c")),
    ("/api/v1/alerts/a%2Fb%3Fc/dismiss", lambda c: c.dismiss_alert("a/b?c")),
]


@pytest.mark.parametrize(("path", "call"), CALLS, ids=[p for p, _ in CALLS])
def test_ids_are_quoted_into_paths(path: str, call: Callable[[AgencyClient], object]) -> None:
    seen: list[httpx.Request] = []
    with AgencyClient("http://h", "t", transport=recorder(seen)) as c, pytest.raises(NotFound):
        call(c)
    assert seen[0].url.raw_path.decode().split("?")[0] == path
    assert seen[0].headers["user-agent"] == f"agency-client/{__version__}"


async def test_the_async_face_quotes_the_same_way() -> None:
    seen: list[httpx.Request] = []

    async def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path.startswith("/api/v1/queue"):
            return httpx.Response(200, json={"paused": True})
        return httpx.Response(404, json={"error": {"code": "not_found", "message": "no"}})

    async with AsyncAgencyClient("http://h", "t", transport=httpx.MockTransport(answer)) as c:
        assert await c.pause_queue("why") is True
        with pytest.raises(NotFound):
            await c.drain_worker("w/1")
    assert [r.url.raw_path.decode() for r in seen] == [
        "/api/v1/queue/pause",
        "/api/v1/workers/w%2F1/drain",
    ]
    assert json.loads(seen[0].content) == {"reason": "why"}


def test_bodies_are_checked_by_the_servers_model_before_sending() -> None:
    seen: list[httpx.Request] = []
    with AgencyClient("http://h", "t", transport=recorder(seen)) as c:
        with pytest.raises(ValidationFailed) as info:
            c.act("t1", "explode")
        assert info.value.details["errors"][0]["loc"] == ["body", "action"]
        with pytest.raises(ValidationFailed, match=r"body\.name"):
            c.create_query("bad name", "SELECT 1")
        with pytest.raises(ValidationFailed, match=r"body\.tasks"):
            c.submit_many([])
    assert seen == []  # refused here, as the server would have
