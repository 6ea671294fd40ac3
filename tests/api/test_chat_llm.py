"""Free text goes to an OpenAI-compatible model and streams back (a real HTTP server here)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from agency.testing import Stack, serve
from tests.api.planes import LIMITS
from tests.api.test_chat_ws import exchange, new_session, open_ws, recv

PIECES = ["The fleet ", "looks ", "healthy."]
LLM_KEY = "sk-test-llm-key"


class FakeModel(BaseHTTPRequestHandler):
    """Speaks the OpenAI chat-completions streaming shape: SSE chunks, then ``[DONE]``."""

    requests: list[dict[str, Any]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        FakeModel.requests.append(
            {"path": self.path, "auth": self.headers.get("Authorization"), "body": body}
        )
        if body["messages"][-1]["content"] == "fail please":
            self.send_response(500)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        self.wfile.write(b": a comment line clients must skip\n\n")
        for piece in PIECES:
            chunk = {"choices": [{"index": 0, "delta": {"content": piece}}]}
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            self.wfile.flush()
        self.wfile.write(
            b'data: {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}\n\n'
        )
        self.wfile.write(b"data: [DONE]\n\n")

    def log_message(self, format: str, *args: Any) -> None:
        return  # keep the test output clean


@pytest.fixture(scope="module")
def model_url() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), FakeModel)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    httpd.shutdown()
    thread.join(10)


@pytest.fixture(scope="module")
def llm_server(tmp_path_factory: pytest.TempPathFactory, model_url: str) -> Iterator[Stack]:
    mp = pytest.MonkeyPatch()
    mp.setenv("AGENCY_SECRET_LLM_API_KEY", LLM_KEY)  # the env keystore's secret
    data_dir: Path = tmp_path_factory.mktemp("llm")
    with serve(data_dir, llm_url=model_url, llm_model="tiny-test-model", **LIMITS) as srv:
        yield srv
    mp.undo()


def test_free_text_streams_deltas_then_the_whole_reply(llm_server: Stack) -> None:
    FakeModel.requests.clear()
    with llm_server.http() as admin:
        sid = new_session(admin)
    with open_ws(llm_server, sid) as ws:
        exchange(ws, "/help")  # commands still work, and become the model's context
        ws.send(json.dumps({"content": "how is the fleet?"}))
        echo = recv(ws)
        assert echo["role"] == "user" and echo["seq"] == 3
        deltas = []
        while True:
            frame = recv(ws)
            if frame["type"] != "delta":
                break
            assert frame["reply_to"] == 3 and frame["role"] == "assistant"
            deltas.append(frame["content"])
        assert deltas == PIECES
        assert frame["type"] == "message" and frame["seq"] == 4
        assert frame["content"] == "".join(PIECES)
    (req,) = FakeModel.requests
    assert req["path"] == "/v1/chat/completions"
    assert req["auth"] == f"Bearer {LLM_KEY}"
    assert req["body"]["model"] == "tiny-test-model" and req["body"]["stream"] is True
    roles = [m["role"] for m in req["body"]["messages"]]
    assert roles == ["system", "user", "assistant", "user"]
    assert req["body"]["messages"][1]["content"] == "/help"


def test_model_failure_is_said_not_invented(llm_server: Stack) -> None:
    with llm_server.http() as admin:
        sid = new_session(admin)
        with open_ws(llm_server, sid) as ws:
            _, reply = exchange(ws, "fail please")
        assert reply["content"].startswith("The language model failed: HTTP 500")
        stored = admin.get(f"/api/v1/chat/session/{sid}/messages").json()
    assert stored[-1]["content"] == reply["content"]
