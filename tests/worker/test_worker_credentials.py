"""The worker's credentials and address: its registration secret, its token, --advertise-url."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from agency.settings import Settings
from agency.worker.server import Worker


def make(tmp_path: Path, **values: object) -> Worker:
    return Worker(
        Settings(data_dir=tmp_path, control_plane="http://127.0.0.1:1", **values), port=8101
    )


def test_advertise_url_is_what_the_worker_registers(tmp_path: Path) -> None:
    assert make(tmp_path).registration().url == "http://127.0.0.1:8101"
    w = make(tmp_path, worker_advertise_url="https://w1.example.net:8443/")
    assert w.registration().url == "https://w1.example.net:8443"


def test_each_worker_registers_its_own_secret(tmp_path: Path) -> None:
    a, b = make(tmp_path / "a"), make(tmp_path / "b")
    secret = a.registration().secret
    assert secret and len(secret) >= 32 and secret != b.registration().secret
    assert secret not in repr(a.registration()) and secret not in repr(a.config)


@pytest.mark.parametrize(
    ("bearer", "status"), [("secret", 200), ("token", 200), ("other", 401), (None, 401)]
)
async def test_the_secret_and_the_token_are_accepted(
    tmp_path: Path, bearer: str | None, status: int
) -> None:
    w = make(tmp_path, worker_token="the-workers-token")
    given = {"secret": w.config.secret, "token": "the-workers-token", "other": "x" * 20}
    headers = {"Authorization": f"Bearer {given[bearer]}"} if bearer else {}
    transport = httpx.ASGITransport(app=w.asgi())
    async with httpx.AsyncClient(transport=transport, base_url="http://w") as c:
        assert (await c.get("/status", headers=headers)).status_code == status
        assert (await c.get("/health")).status_code == 200
