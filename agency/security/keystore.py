"""Keystores: one interface, four providers (env, encrypted file, OS keyring, Vault KV v2).

``open_keystore(settings)`` picks the provider named by ``AGENCY_KEYSTORE``. Every provider
is synchronous (the file, the keyring and one small HTTP call are quick); async callers wrap
calls in ``asyncio.to_thread``.
"""

from __future__ import annotations

import builtins
import os
from collections.abc import Callable, MutableMapping
from typing import TypeVar

import keyring
import keyring.errors
from keyring.backends import fail

from agency.errors import ConfigError, NotFound
from agency.security.base import Keystore, check_secret_name
from agency.security.filestore import FileKeystore
from agency.security.vault import VaultKeystore
from agency.settings import Settings

__all__ = [
    "EnvKeystore",
    "FileKeystore",
    "KeyringKeystore",
    "Keystore",
    "VaultKeystore",
    "open_keystore",
]

ENV_PREFIX = "AGENCY_SECRET_"
KEYRING_SERVICE = "agency"
_T = TypeVar("_T")
# The keyring API cannot enumerate entries, so the keyring provider keeps its own index of
# names (never values) under this entry.
KEYRING_INDEX = "__agency_index__"


class EnvKeystore(Keystore):
    """Secrets from ``AGENCY_SECRET_<NAME>`` variables (exact name first, then upper case).

    ``set_secret``/``delete_secret`` change this process's environment only (and so what
    its children inherit); to configure a deployment, export the variables instead.
    """

    kind = "env"

    def __init__(self, environ: MutableMapping[str, str] | None = None) -> None:
        self._env: MutableMapping[str, str] = os.environ if environ is None else environ

    def _key(self, name: str) -> str | None:
        for key in (ENV_PREFIX + name, ENV_PREFIX + name.upper()):
            if key in self._env:
                return key
        return None

    def get_secret(self, name: str) -> str:
        key = self._key(check_secret_name(name))
        if key is None:
            raise NotFound(
                f"secret {name!r} not found: set {ENV_PREFIX}{name.upper()}",
                details={"secret": name},
            )
        return self._env[key]

    def set_secret(self, name: str, value: str) -> None:
        self._env[ENV_PREFIX + check_secret_name(name)] = value

    def delete_secret(self, name: str) -> None:
        key = self._key(check_secret_name(name))
        if key is None:
            raise NotFound(f"secret {name!r} not found", details={"secret": name})
        del self._env[key]

    def list(self) -> builtins.list[str]:
        return sorted(
            k.removeprefix(ENV_PREFIX)
            for k in self._env
            if k.startswith(ENV_PREFIX) and len(k) > len(ENV_PREFIX)
        )

    def describe(self) -> str:
        return f"env ({ENV_PREFIX}<NAME> variables)"


def keyring_available() -> bool:
    """Whether the ``keyring`` package found a usable OS backend."""
    return not isinstance(keyring.get_keyring(), fail.Keyring)


class KeyringKeystore(Keystore):
    """Secrets in the OS keyring (service ``agency``), through the ``keyring`` package."""

    kind = "keyring"

    def __init__(self, service: str = KEYRING_SERVICE) -> None:
        if not keyring_available():
            raise ConfigError(
                "AGENCY_KEYSTORE=keyring but no OS keyring backend is available here "
                "(no Secret Service / macOS Keychain / Windows Credential Locker); "
                "use AGENCY_KEYSTORE=file, env or vault"
            )
        self._service = service

    def _call(self, fn: Callable[..., _T], *args: str) -> _T:
        try:
            return fn(self._service, *args)
        except keyring.errors.KeyringError as exc:
            raise ConfigError(f"the OS keyring failed: {type(exc).__name__}") from exc

    def _index(self) -> set[str]:
        raw = self._call(keyring.get_password, KEYRING_INDEX)
        return {n for n in (raw or "").split(",") if n}

    def _save_index(self, names: set[str]) -> None:
        self._call(keyring.set_password, KEYRING_INDEX, ",".join(sorted(names)))

    def get_secret(self, name: str) -> str:
        value = self._call(keyring.get_password, check_secret_name(name))
        if value is None:
            raise NotFound(f"secret {name!r} not found in the OS keyring", details={"secret": name})
        return str(value)

    def set_secret(self, name: str, value: str) -> None:
        self._call(keyring.set_password, check_secret_name(name), value)
        self._save_index(self._index() | {name})

    def delete_secret(self, name: str) -> None:
        check_secret_name(name)
        try:
            keyring.delete_password(self._service, name)
        except keyring.errors.PasswordDeleteError as exc:
            raise NotFound(
                f"secret {name!r} not found in the OS keyring", details={"secret": name}
            ) from exc
        except keyring.errors.KeyringError as exc:
            raise ConfigError(f"the OS keyring failed: {type(exc).__name__}") from exc
        self._save_index(self._index() - {name})

    def list(self) -> builtins.list[str]:
        return sorted(self._index())

    def describe(self) -> str:
        return f"OS keyring ({type(keyring.get_keyring()).__name__}, service {self._service!r})"


def open_keystore(settings: Settings) -> Keystore:
    """The keystore ``settings.keystore`` names; ``ConfigError`` when it cannot work here."""
    if settings.keystore == "env":
        return EnvKeystore()
    if settings.keystore == "keyring":
        return KeyringKeystore()
    if settings.keystore == "vault":
        if not settings.vault_url:
            raise ConfigError("AGENCY_KEYSTORE=vault needs AGENCY_VAULT_URL")
        return VaultKeystore(
            settings.vault_url, settings.vault_token, timeout=settings.request_timeout
        )
    return FileKeystore.from_settings(settings)
