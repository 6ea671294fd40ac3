"""Fixtures of the security tests: a tiny real Vault KV v2 server, an in-memory keyring."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import keyring
import pytest
from jaraco.classes import properties
from keyring.backend import KeyringBackend

VAULT_TOKEN = "s.test-token"


class _VaultHandler(BaseHTTPRequestHandler):
    """Speaks the shape of Vault's KV v2 API for mount ``secret`` (data + metadata paths)."""

    store: dict[str, dict[str, str]]

    def log_message(self, format: str, *args: object) -> None:
        return None  # keep pytest output quiet

    def _reply(self, status: int, body: object | None = None) -> None:
        raw = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def _authorized(self) -> bool:
        if self.headers.get("X-Vault-Token") != VAULT_TOKEN:
            self._reply(403, {"errors": ["permission denied"]})
            return False
        return True

    def do_GET(self) -> None:
        if not self._authorized():
            return
        url = urlsplit(self.path)
        if url.path == "/v1/secret/metadata/" and parse_qs(url.query).get("list") == ["true"]:
            if not self.server.store:  # type: ignore[attr-defined]
                self._reply(404, {"errors": []})
            else:
                self._reply(200, {"data": {"keys": sorted(self.server.store)}})  # type: ignore[attr-defined]
            return
        name = url.path.removeprefix("/v1/secret/data/")
        data = self.server.store.get(name)  # type: ignore[attr-defined]
        if data is None:
            self._reply(404, {"errors": []})
        else:
            self._reply(200, {"data": {"data": data, "metadata": {"version": 1}}})

    def do_POST(self) -> None:
        if not self._authorized():
            return
        name = urlsplit(self.path).path.removeprefix("/v1/secret/data/")
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.store[name] = body["data"]  # type: ignore[attr-defined]
        self._reply(200, {"data": {"version": 1}})

    def do_DELETE(self) -> None:
        if not self._authorized():
            return
        name = urlsplit(self.path).path.removeprefix("/v1/secret/metadata/")
        self.server.store.pop(name, None)  # type: ignore[attr-defined]
        self._reply(204)


@pytest.fixture
def vault_server() -> Iterator[tuple[str, dict[str, dict[str, str]]]]:
    """A real HTTP server on 127.0.0.1 (random port) and the dict it stores secrets in."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _VaultHandler)
    server.store = {}  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", server.store  # type: ignore[attr-defined]
    finally:
        server.shutdown()
        server.server_close()


class MemoryKeyring(KeyringBackend):
    """A keyring backend in memory: this machine has no OS keyring to test against."""

    @properties.classproperty
    def priority(cls) -> float:
        # never chosen by keyring's own discovery; tests install it with set_keyring
        raise RuntimeError("test backend, installed explicitly")

    def __init__(self) -> None:
        super().__init__()
        self.entries: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.entries.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.entries[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if (service, username) not in self.entries:
            raise keyring.errors.PasswordDeleteError(username)
        del self.entries[(service, username)]


@pytest.fixture
def memory_keyring() -> Iterator[MemoryKeyring]:
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    try:
        yield backend
    finally:
        keyring.set_keyring(previous)
