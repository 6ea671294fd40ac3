"""The Workers page shows how each worker's certificate is checked ("unverified" stands out)."""

from __future__ import annotations

from agency_dashboards.data.workers import tls_label


def test_tls_labels() -> None:
    assert tls_label("http://127.0.0.1:8101", None) == "plain http"
    assert tls_label("https://h:1", None) == "system CAs"
    assert tls_label("https://h:1", {"fingerprint": "sha256:ab", "verify": True}) == "pinned"
    assert tls_label("https://h:1", {"ca_file": "/ca.pem", "verify": True}) == "CA file"
    assert tls_label("https://h:1", {"verify": False}) == "unverified"
