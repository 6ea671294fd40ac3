"""Secrets typed into chat are masked before they are stored or echoed (issue 21, item 3):
a keystore value and an ``sk-`` key sent in a chat message are found nowhere afterwards."""

from __future__ import annotations

import secrets
from pathlib import Path

from cryptography.fernet import Fernet

from agency.client import AgencyClient
from agency.security.filestore import FileKeystore
from agency.security.masking import SecretMasker
from agency.testing import ADMIN, serve
from tests.e2e.security.test_secret_leak import duckdb_text, files_holding


def test_credential_shapes_are_masked() -> None:
    masker = SecretMasker()
    masker.redactor.add("hunter2-long-value")
    text = (
        "use hunter2-long-value, sk-abcdefghijklmnopqrstuvwx, AKIAABCDEFGHIJKLMNOP, "
        "Authorization: Bearer abcdefgh12345678, agy_" + "x" * 30 + "\n"
        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk\n-----END OPENSSH PRIVATE KEY-----"
    )
    masked, kinds = masker.mask(text)
    for leaked in ("hunter2", "sk-abc", "AKIAABC", "abcdefgh1234", "agy_x", "b3BlbnNzaC1rZXk"):
        assert leaked not in masked, masked
    assert set(kinds) == {
        "keystore secret",
        "API key (sk-)",
        "AWS access key",
        "bearer header",
        "agency token",
        "private key",
    }
    assert masker.mask("nothing secret here") == ("nothing secret here", [])


def test_a_secret_sent_in_chat_is_stored_masked(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    master = Fernet.generate_key().decode()
    value = "chat-" + secrets.token_hex(16)
    sk = "sk-" + secrets.token_hex(20)
    with serve(data, keystore="file", master_key=master) as stack:
        # set while the plane runs, then learned (what `agency secret set` is followed by)
        FileKeystore(data / "secrets.enc", master_key=master).set_secret("chat_secret", value)
        stack.call(stack.plane.learn_secrets)
        client = AgencyClient(stack.url, ADMIN)
        with client:
            session = client.create_session(title="oops").session_id
            with client.chat(session) as chat:
                reply = chat.ask(f"deploy with {value} and {sk} please", timeout=30)
            with stack.http() as http:
                stored = http.get(f"/api/v1/chat/session/{session}/messages").text
    assert value not in reply and sk not in reply
    assert value not in stored and sk not in stored
    assert "***" in stored and "Masked before storing your message" in stored
    assert "keystore secret" in stored and "API key (sk-)" in stored
    for needle in (value, sk):
        hits, read = files_holding(data, needle.encode())
        assert read > 0 and hits == [], hits
        assert needle not in duckdb_text(data / "agency.duckdb")
