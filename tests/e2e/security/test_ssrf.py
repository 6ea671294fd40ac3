"""SSRF guard at worker registration, through ``POST /api/v1/workers/register`` on a real
control plane: URLs whose host is outside ``AGENCY_ALLOWED_HOSTS`` (or that hide their real
host) are refused with ``403 host_not_allowed`` and logged; allowed ones register in their
normalized form. (The dashboard's allowlist refusal is tested in tests/dashboards.)"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import httpx
import pytest

from agency.testing import WORKER, Stack, serve
from tests.e2e.security.fleet import V1

ALLOWED = "127.0.0.1,localhost,::1,10.20.0.0/16"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with serve(tmp_path_factory.mktemp("ssrf"), allowed_hosts=ALLOWED) as s:
        yield s


@pytest.fixture(scope="module")
def worker_http(stack: Stack) -> Iterator[httpx.Client]:
    with stack.http(WORKER) as c:
        yield c


def registered(stack: Stack) -> dict[str, str]:
    with stack.http() as http:
        return {w["id"]: w["url"] for w in http.get(f"{V1}/workers").json()["items"]}


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/",  # cloud metadata
        "http://169.254.169.254/latest/meta-data",
        "http://127.0.0.1@evil.com/",  # userinfo: the host is evil.com
        "http://127.0.0.1:8101@evil.com:80",
        "http://2130706433:8101",  # 127.0.0.1 as one decimal number
        "http://0x7f.0.0.1:8101",  # hex
        "http://127.1:8101",  # short form
        "http://[::ffff:127.0.0.1]:8101",  # IPv4-mapped IPv6
        "http://localhost.evil.com:8101",
        "http://10.21.0.1:8101",  # just outside the allowed CIDR
        "file:///etc/passwd",
    ],
)
def test_a_worker_url_outside_the_allowlist_is_refused_and_logged(
    stack: Stack,
    worker_http: httpx.Client,
    caplog: pytest.LogCaptureFixture,
    url: str,
) -> None:
    caplog.set_level(logging.WARNING)
    worker_id = f"evil-{abs(hash(url)) % 10**8}"
    r = worker_http.post(
        f"{V1}/workers/register",
        json={"id": worker_id, "url": url, "kinds": ["shell"], "capacity": 1},
    )
    assert r.status_code == 403, r.text
    err = r.json()["error"]
    assert err["code"] == "host_not_allowed" and err["details"]["reason"], err
    assert worker_id not in registered(stack)
    refusals = [
        rec
        for rec in caplog.records
        if "registration refused" in rec.getMessage() and worker_id in rec.getMessage()
    ]
    assert len(refusals) == 1 and refusals[0].levelno == logging.WARNING
    assert getattr(refusals[0], "url", None) == url


@pytest.mark.parametrize(
    ("url", "stored"),
    [
        ("http://LOCALHOST:8101/", "http://localhost:8101/"),
        ("http://[0:0::1]:8102", "http://[::1]:8102"),
        ("http://10.20.3.4:8103", "http://10.20.3.4:8103"),  # inside the allowed CIDR
    ],
)
def test_an_allowed_worker_url_registers_normalized(
    stack: Stack, worker_http: httpx.Client, url: str, stored: str
) -> None:
    worker_id = f"ok-{stored.rsplit(':', 1)[-1].strip('/')}"
    r = worker_http.post(
        f"{V1}/workers/register",
        json={"id": worker_id, "url": url, "kinds": ["shell"], "capacity": 1},
    )
    assert r.status_code == 200, r.text
    assert r.json()["url"] == stored and registered(stack)[worker_id] == stored
    with stack.http() as admin:
        assert (
            admin.delete(f"{V1}/workers/{worker_id}", params={"reason": "test"}).status_code == 200
        )
