"""The SSRF guard: allowlisted hosts pass normalized; tricks are refused and logged."""

from __future__ import annotations

import pytest

from agency.errors import HostNotAllowed
from agency.security.urlguard import check_url
from agency.settings import Settings

ALLOWED = Settings.load(env={}).allowed_host_set | {"workers.internal", "10.1.0.0/16"}


@pytest.mark.parametrize(
    "url, expected",
    [
        ("http://127.0.0.1:8101/task?x=1#frag", "http://127.0.0.1:8101/task?x=1"),
        ("HTTPS://LocalHost.:8443", "https://localhost:8443"),
        ("http://[::1]:9000/", "http://[::1]:9000/"),
        ("http://[0:0:0:0:0:0:0:1]/", "http://[::1]/"),
        ("http://WORKERS.internal/health", "http://workers.internal/health"),
        ("http://10.1.200.3:80", "http://10.1.200.3:80"),
    ],
)
def test_allowed(url: str, expected: str) -> None:
    assert check_url(url, ALLOWED) == expected


@pytest.mark.parametrize(
    "url, reason",
    [
        ("http://evil.com/", "not in the allowlist"),
        ("http://10.2.0.1/", "not in the allowlist"),
        ("http://127.0.0.1@evil.com/", "credentials"),
        ("http://evil.com@127.0.0.1/", "credentials"),
        ("http://user:pw@localhost/", "credentials"),
        ("http://localhost\\@evil.com/", "backslash"),
        ("http://2130706433/", "canonical dotted-quad"),
        ("http://0177.0.0.1/", "canonical dotted-quad"),
        ("http://0x7f.0.0.1/", "canonical dotted-quad"),
        ("http://0x7f000001/", "canonical dotted-quad"),
        ("http://127.1/", "canonical dotted-quad"),
        ("http://127.000.000.001/", "canonical dotted-quad"),
        ("http://[::ffff:127.0.0.1]/", "IPv4-mapped"),
        ("http://[::127.0.0.1]/", "IPv4-compatible"),
        ("http://[fe80::1%25eth0]/", "zone"),
        ("http://[::1/", "IPv6"),
        ("http://evil\uff0ecom@127.0.0.1/", "credentials"),
        ("http://[::1]x/", "refused"),
        ("http://::1/", "port"),
        ("http://localhost.evil.com/", "not in the allowlist"),
        ("http://127.0.0.1.nip.io/", "not in the allowlist"),
        ("http://l\u043ecalhost/", "not in the allowlist"),  # a Cyrillic o
        ("file:///etc/passwd", "scheme"),
        ("gopher://127.0.0.1:6379/", "scheme"),
        ("//127.0.0.1/", "scheme"),
        ("http:///path", "no host"),
        ("http://127.0.0.1:99999/", "port"),
        ("http://127.0.0.1:0/", "port"),
        ("http://127.0.0.1 /", "whitespace"),
        ("http://local\nhost/", "control"),
        ("", "empty"),
    ],
)
def test_refused(url: str, reason: str, caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(HostNotAllowed, match="URL refused") as info:
        check_url(url, ALLOWED)
    assert reason.lower() in info.value.message.lower()
    assert info.value.status == 403 and info.value.details["reason"]
    assert any(r.levelname == "WARNING" and "refused URL" in r.getMessage() for r in caplog.records)


def test_empty_allowlist_refuses_everything() -> None:
    with pytest.raises(HostNotAllowed):
        check_url("http://127.0.0.1/", frozenset())
