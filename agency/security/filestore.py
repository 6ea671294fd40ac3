"""The encrypted-file keystore: every secret in one Fernet token at ``<data_dir>/secrets.enc``.

Where the master key comes from, first match wins:

1. ``AGENCY_MASTER_KEY`` (a Fernet key: 32 url-safe base64 bytes);
2. the OS keyring, service ``agency``, entry ``master_key`` (when a backend exists);
3. ``<data_dir>/master.key``, which must be mode 0600 (refused otherwise, like ssh does);
4. nothing yet: the first write generates a key, into the OS keyring when one is usable,
   else into ``<data_dir>/master.key`` (mode 0600, created exclusively), and logs where.

A key is never generated while ``secrets.enc`` exists: a fresh key could not read it, so
that is a ``ConfigError`` instead. A key file beside the ciphertext keeps plaintext off disk
and out of backups of the data file alone, but anyone who can read the whole data directory
can decrypt it: for real separation put the key in ``AGENCY_MASTER_KEY`` or the OS keyring.
"""

from __future__ import annotations

import builtins
import contextlib
import fcntl
import json
import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import keyring
import keyring.errors
from cryptography.fernet import Fernet, InvalidToken
from keyring.backends import fail

from agency.errors import ConfigError, NotFound
from agency.security.base import Keystore, check_secret_name
from agency.settings import Settings

log = logging.getLogger(__name__)

KEYRING_SERVICE = "agency"
KEYRING_MASTER_ENTRY = "master_key"
FORMAT_VERSION = 1


def _fernet(key: str | bytes, source: str) -> Fernet:
    try:
        return Fernet(key)
    except (ValueError, TypeError) as exc:
        raise ConfigError(
            f"the master key from {source} is not a valid Fernet key (32 url-safe base64 bytes)"
        ) from exc


def _keyring_usable() -> bool:
    return not isinstance(keyring.get_keyring(), fail.Keyring)


class FileKeystore(Keystore):
    """Secrets encrypted at rest with Fernet in one file; see the module doc for the key."""

    kind = "file"

    def __init__(
        self, path: Path, *, master_key: str | None = None, key_file: Path | None = None
    ) -> None:
        self.path = Path(path)
        self.key_file = key_file if key_file is not None else self.path.parent / "master.key"
        self._explicit_key = master_key
        self._cached: tuple[Fernet, str] | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> FileKeystore:
        return cls(settings.data_dir / "secrets.enc", master_key=settings.master_key)

    # --- the master key --------------------------------------------------------------------

    def _find_key(self) -> tuple[Fernet, str] | None:
        if self._explicit_key:
            return _fernet(self._explicit_key, "AGENCY_MASTER_KEY"), "AGENCY_MASTER_KEY"
        if _keyring_usable():
            try:
                stored = keyring.get_password(KEYRING_SERVICE, KEYRING_MASTER_ENTRY)
            except keyring.errors.KeyringError as exc:
                raise ConfigError(
                    f"the OS keyring failed while reading the master key: {type(exc).__name__}"
                ) from exc
            if stored:
                return _fernet(stored, "the OS keyring"), "the OS keyring"
        if self.key_file.exists():
            mode = stat.S_IMODE(self.key_file.stat().st_mode)
            if mode & 0o077:
                raise ConfigError(
                    f"{self.key_file} is readable by others (mode {mode:o}); run chmod 600 on it"
                )
            return _fernet(self.key_file.read_bytes().strip(), str(self.key_file)), str(
                self.key_file
            )
        return None

    def _generate_key(self) -> tuple[Fernet, str]:
        key = Fernet.generate_key()
        if _keyring_usable():
            try:
                keyring.set_password(KEYRING_SERVICE, KEYRING_MASTER_ENTRY, key.decode())
                log.warning(
                    "generated a new master key for %s in the OS keyring (service %r)",
                    self.path,
                    KEYRING_SERVICE,
                )
                return Fernet(key), "the OS keyring"
            except keyring.errors.KeyringError:
                log.warning(
                    "the OS keyring refused the new master key; writing it to %s instead",
                    self.key_file,
                )
        self.key_file.parent.mkdir(parents=True, exist_ok=True)
        # O_EXCL: never overwrite a key that appeared meanwhile; 0600 from the first byte.
        fd = os.open(self.key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(key + b"\n")
        log.warning(
            "generated a new master key at %s (mode 0600) for %s; back it up, and for real "
            "separation move it to AGENCY_MASTER_KEY or the OS keyring",
            self.key_file,
            self.path,
        )
        return Fernet(key), str(self.key_file)

    def _key(self, *, create: bool) -> Fernet | None:
        if self._cached is None:
            # "not found" is not cached: another process may create the key meanwhile
            found = self._find_key()
            if found is None and create:
                if self.path.exists():
                    raise ConfigError(
                        f"{self.path} exists but no master key was found (AGENCY_MASTER_KEY, OS keyring, "
                        f"{self.key_file}); refusing to create a new key that could not read it"
                    )
                found = self._generate_key()
            self._cached = found
        return self._cached[0] if self._cached else None

    # --- the file --------------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """One writer at a time across processes (read-modify-write of the whole file)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path.with_name(self.path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _read(self) -> dict[str, str]:
        if not self.path.exists():
            return {}
        key = self._key(create=False)
        if key is None:
            raise ConfigError(
                f"{self.path} exists but no master key was found (AGENCY_MASTER_KEY, OS keyring, {self.key_file})"
            )
        try:
            payload = json.loads(key.decrypt(self.path.read_bytes().strip()))
        except InvalidToken as exc:
            raise ConfigError(
                f"{self.path} cannot be decrypted with the master key from {self._source()}: wrong key or a damaged file"
            ) from exc
        secrets = payload.get("secrets", {}) if isinstance(payload, dict) else {}
        return {str(k): str(v) for k, v in secrets.items()}

    def _write(self, secrets: dict[str, str]) -> None:
        key = self._key(create=True)
        assert key is not None  # create=True either finds, generates or raises
        token = key.encrypt(json.dumps({"version": FORMAT_VERSION, "secrets": secrets}).encode())
        tmp = self.path.with_name(f"{self.path.name}.tmp-{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(token)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)

    def _source(self) -> str:
        return self._cached[1] if self._cached else "nowhere"

    # --- the interface ---------------------------------------------------------------------

    def get_secret(self, name: str) -> str:
        check_secret_name(name)
        secrets = self._read()
        if name not in secrets:
            raise NotFound(f"secret {name!r} not found in {self.path}", details={"secret": name})
        return secrets[name]

    def set_secret(self, name: str, value: str) -> None:
        check_secret_name(name)
        with self._locked():
            secrets = self._read()
            secrets[name] = value
            self._write(secrets)

    def delete_secret(self, name: str) -> None:
        check_secret_name(name)
        with self._locked():
            secrets = self._read()
            if name not in secrets:
                raise NotFound(
                    f"secret {name!r} not found in {self.path}", details={"secret": name}
                )
            del secrets[name]
            self._write(secrets)

    def list(self) -> builtins.list[str]:
        return sorted(self._read())

    def describe(self) -> str:
        return f"encrypted file {self.path}"
