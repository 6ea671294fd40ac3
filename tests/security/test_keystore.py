"""Keystore providers: round trips, names only in list, nothing plain on disk, clear errors."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from agency.errors import ConfigError, NotFound, ServiceUnavailable, ValidationFailed
from agency.security.base import Keystore
from agency.security.keystore import (
    EnvKeystore,
    FileKeystore,
    KeyringKeystore,
    VaultKeystore,
    open_keystore,
)
from agency.settings import Settings

from .conftest import VAULT_TOKEN, MemoryKeyring

VALUE = "s3cr3t-value-Zq9"


def round_trip(ks: Keystore) -> None:
    assert ks.list() == []
    with pytest.raises(NotFound):
        ks.get_secret("API_KEY")
    ks.set_secret("API_KEY", VALUE)
    ks.set_secret("other", "second-value")
    assert ks.get_secret("API_KEY") == VALUE
    assert ks.list() == ["API_KEY", "other"]
    ks.set_secret("API_KEY", VALUE + "-v2")
    assert ks.get_secret("API_KEY") == VALUE + "-v2"
    ks.delete_secret("API_KEY")
    with pytest.raises(NotFound):
        ks.get_secret("API_KEY")
    with pytest.raises(NotFound):
        ks.delete_secret("API_KEY")
    assert ks.list() == ["other"]


def test_env_round_trip() -> None:
    env: dict[str, str] = {"PATH": "/bin"}
    round_trip(EnvKeystore(env))
    assert env == {"PATH": "/bin", "AGENCY_SECRET_other": "second-value"}


def test_env_reads_upper_case_variable() -> None:
    ks = EnvKeystore({"AGENCY_SECRET_OPENAI_KEY": "sk-1234"})
    assert ks.get_secret("openai_key") == "sk-1234"
    assert ks.list() == ["OPENAI_KEY"]


def test_file_round_trip_and_nothing_plain_on_disk(tmp_path: Path) -> None:
    ks = FileKeystore(tmp_path / "secrets.enc")
    round_trip(ks)
    ks.set_secret("API_KEY", VALUE)
    for path in tmp_path.iterdir():
        data = path.read_bytes()
        assert VALUE.encode() not in data and b"API_KEY" not in data, path
    assert stat.S_IMODE((tmp_path / "secrets.enc").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "master.key").stat().st_mode) == 0o600
    # a second instance (another process) reads what the first wrote
    assert FileKeystore(tmp_path / "secrets.enc").get_secret("API_KEY") == VALUE


def test_file_generates_key_and_logs_where(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ks = open_keystore(Settings.load(env={}, data_dir=tmp_path))
    assert isinstance(ks, FileKeystore)
    assert ks.list() == [] and not (tmp_path / "master.key").exists()  # reads create nothing
    ks.set_secret("A_NAME", VALUE)
    assert (tmp_path / "master.key").exists()
    assert any("generated a new master key" in r.getMessage() for r in caplog.records)
    assert VALUE not in caplog.text


def test_file_with_explicit_master_key(tmp_path: Path) -> None:
    key = Fernet.generate_key().decode()
    ks = FileKeystore(tmp_path / "secrets.enc", master_key=key)
    ks.set_secret("A_NAME", VALUE)
    assert not (tmp_path / "master.key").exists()
    token = (tmp_path / "secrets.enc").read_bytes()
    assert VALUE.encode() in Fernet(key.encode()).decrypt(token)


def test_wrong_master_key_is_a_clear_error(tmp_path: Path) -> None:
    FileKeystore(tmp_path / "secrets.enc", master_key=Fernet.generate_key().decode()).set_secret(
        "A_NAME", VALUE
    )
    wrong = FileKeystore(tmp_path / "secrets.enc", master_key=Fernet.generate_key().decode())
    with pytest.raises(
        ConfigError, match="cannot be decrypted with the master key from AGENCY_MASTER_KEY"
    ):
        wrong.get_secret("A_NAME")
    with pytest.raises(ConfigError, match="cannot be decrypted"):
        wrong.set_secret("B_NAME", "x" * 8)  # never overwrite a file it cannot read
    with pytest.raises(ConfigError, match="not a valid Fernet key"):
        FileKeystore(tmp_path / "secrets.enc", master_key="not-a-key").list()


def test_missing_key_never_replaced_by_a_new_one(tmp_path: Path) -> None:
    ks = FileKeystore(tmp_path / "secrets.enc")
    ks.set_secret("A_NAME", VALUE)
    (tmp_path / "master.key").unlink()
    fresh = FileKeystore(tmp_path / "secrets.enc")
    with pytest.raises(ConfigError, match="no master key was found"):
        fresh.set_secret("B_NAME", VALUE)
    with pytest.raises(ConfigError, match="no master key was found"):
        fresh.list()


def test_key_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    FileKeystore(tmp_path / "secrets.enc").set_secret("A_NAME", VALUE)
    os.chmod(tmp_path / "master.key", 0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        FileKeystore(tmp_path / "secrets.enc").list()


def test_file_key_from_keyring(tmp_path: Path, memory_keyring: MemoryKeyring) -> None:
    ks = FileKeystore(tmp_path / "secrets.enc")
    ks.set_secret("A_NAME", VALUE)
    assert not (tmp_path / "master.key").exists()
    key = memory_keyring.entries[("agency", "master_key")]
    assert Fernet(key.encode()).decrypt((tmp_path / "secrets.enc").read_bytes())


def test_vault_round_trip(vault_server: tuple[str, dict[str, dict[str, str]]]) -> None:
    url, store = vault_server
    ks = open_keystore(
        Settings.load(env={}, keystore="vault", vault_url=url, vault_token=VAULT_TOKEN)
    )
    assert isinstance(ks, VaultKeystore)
    round_trip(ks)
    assert store == {"other": {"value": "second-value"}}


def test_vault_errors(vault_server: tuple[str, dict[str, dict[str, str]]]) -> None:
    url, _ = vault_server
    with pytest.raises(ConfigError, match="refused the token"):
        VaultKeystore(url, "wrong").get_secret("X_NAME")
    with pytest.raises(ServiceUnavailable, match="unreachable"):
        VaultKeystore("http://127.0.0.1:1", VAULT_TOKEN, timeout=2).list()
    with pytest.raises(ConfigError, match="AGENCY_VAULT_URL"):
        open_keystore(Settings.load(env={}, keystore="vault"))


def test_keyring_round_trip(memory_keyring: MemoryKeyring) -> None:
    round_trip(KeyringKeystore())
    assert ("agency", "other") in memory_keyring.entries


def test_keyring_without_backend_is_a_clear_error() -> None:
    import keyring
    from keyring.backends import fail

    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    try:
        with pytest.raises(ConfigError, match="no OS keyring backend"):
            open_keystore(Settings.load(env={}, keystore="keyring"))
    finally:
        keyring.set_keyring(previous)


@pytest.mark.parametrize("name", ["", "1abc", "a/b", "../etc", "a b", "x" * 129, "naïve"])
def test_bad_names_refused(name: str, tmp_path: Path) -> None:
    with pytest.raises(ValidationFailed):
        FileKeystore(tmp_path / "secrets.enc").set_secret(name, VALUE)
    with pytest.raises(ValidationFailed):
        EnvKeystore({}).get_secret(name)


def test_two_instances_share_one_generated_key(tmp_path: Path) -> None:
    reader = FileKeystore(tmp_path / "secrets.enc")
    assert reader.list() == []  # looked for a key, found none, created none
    FileKeystore(tmp_path / "secrets.enc").set_secret("A_NAME", VALUE)  # another process
    assert reader.get_secret("A_NAME") == VALUE
