"""TLS to workers (issue 21 item 2): a real ``agency worker --tls-cert/--tls-key`` behind a
self-signed certificate is refused unpinned, accepted pinned, and refused when the pin is
wrong, by the registration check and by both transports' handshakes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from agency.errors import WorkerTLSError, WorkerTLSRefused
from agency.fleet import Registry, WorkerClient, transport
from agency.models import WorkerRegistration, WorkerTLS
from agency.testing import running_fake_worker
from agency.testing.tlscert import self_signed
from agency.worker.server import self_pin
from tests.fleet.conftest import free_port, quick_settings

WRONG = "sha256:" + "0" * 64


@pytest.fixture(scope="module")
def tls_worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, str]]:
    """``(url, cert file, pin)`` of a real worker serving HTTPS on 127.0.0.1."""
    tmp = tmp_path_factory.mktemp("tlsworker")
    cert, key, pin = self_signed(tmp / "certs")
    port = free_port()
    argv = [sys.executable, "-m", "agency.worker", "--port", str(port), "--id", "tls-w"]
    argv += ["--tls-cert", str(cert), "--tls-key", str(key), "--data-dir", str(tmp / "data")]
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENCY_")}
    log = (tmp / "worker.log").open("wb")
    proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"https://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, (tmp / "worker.log").read_text()
            try:
                httpx.get(f"{url}/health", verify=False, timeout=0.5)  # only waits for it to listen
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, "the TLS worker did not start"
                time.sleep(0.1)
        yield url, cert, pin
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()


def _reg(url: str, tls: WorkerTLS | None) -> WorkerRegistration:
    return WorkerRegistration(id="tls-w", url=url, kinds=["noop"], capacity=1, tls=tls)


async def test_registration_refused_unpinned_accepted_pinned_refused_wrong_pin(
    tls_worker: tuple[str, Path, str],
) -> None:
    url, cert, pin = tls_worker
    registry = Registry(quick_settings())
    try:
        with pytest.raises(WorkerTLSRefused, match="does not verify"):
            await registry.register(_reg(url, None))
        with pytest.raises(WorkerTLSRefused, match="fingerprint mismatch"):
            await registry.register(_reg(url, WorkerTLS(fingerprint=WRONG)))
        assert registry.list() == []
        info = await registry.register(_reg(url, WorkerTLS(fingerprint=pin)))
        assert info.tls is not None and info.tls.fingerprint == pin
        # trusting the self-signed certificate as a CA works too
        info = await registry.register(_reg(url, WorkerTLS(ca_file=str(cert))))
        assert info.url.startswith("https://")
    finally:
        await registry.aclose()


async def test_transports_check_the_pin_during_the_handshake(
    tls_worker: tuple[str, Path, str], http_client: str
) -> None:
    url, _, pin = tls_worker
    settings = quick_settings(http_client=http_client, retry_attempts=1)
    good = WorkerClient("tls-w", url, settings, tls=WorkerTLS(fingerprint=pin))
    wrong = WorkerClient("tls-w", url, settings, tls=WorkerTLS(fingerprint=WRONG))
    unpinned = WorkerClient("tls-w", url, settings)
    try:
        status = await good.status()
        assert status.id == "tls-w"
        for client in (wrong, unpinned):
            with pytest.raises(WorkerTLSError):
                await client.status()
            assert client.attempts_total == 1  # a certificate problem is never retried
    finally:
        for client in (good, wrong, unpinned):
            await client.aclose()


def test_bad_fingerprint_is_refused_by_the_model() -> None:
    with pytest.raises(ValueError, match="sha256"):
        WorkerTLS(fingerprint="md5:abcd")
    assert WorkerTLS(fingerprint="SHA256:" + "AB:" * 31 + "AB").fingerprint == "sha256:" + "ab" * 32


def test_a_tls_worker_registers_with_the_pin_of_its_own_certificate(tmp_path: Path) -> None:
    cert, _, pin = self_signed(tmp_path)
    tls = self_pin(str(cert))
    assert tls is not None and tls.fingerprint == pin
    assert self_pin(None) is None


async def test_a_plain_http_worker_costs_no_tls_context(
    monkeypatch: pytest.MonkeyPatch, tls_worker: tuple[str, Path, str]
) -> None:
    # loading the system CAs blocked the event loop 100-200 ms at the first dispatch to each
    # worker; plain http needs none, https builds it on its first request
    built: list[WorkerTLS | None] = []

    def counting(tls: WorkerTLS | None) -> object:
        built.append(tls)
        return real(tls)

    real = transport.ssl_context
    monkeypatch.setattr(transport, "ssl_context", counting)
    settings = quick_settings(http_client="aiohttp", retry_attempts=1)
    with running_fake_worker() as fake:
        plain = WorkerClient("plain", fake.url, settings)
        try:
            await plain.status()
            await plain.status()
        finally:
            await plain.aclose()
    assert built == []
    url, _, pin = tls_worker
    pinned = WorkerClient("tls-w", url, settings, tls=WorkerTLS(fingerprint=pin))
    try:
        assert (await pinned.status()).id == "tls-w"
        await pinned.status()
    finally:
        await pinned.aclose()
    assert len(built) == 1
