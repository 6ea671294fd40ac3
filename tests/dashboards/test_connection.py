"""Which control plane the dashboard may talk to: the allowlist and ``AGENCY_URL``."""

from __future__ import annotations

import pytest

from agency_dashboards.connection import HostRefused, backend_from_env, check_url


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
