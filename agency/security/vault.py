"""HashiCorp Vault KV v2 keystore over HTTP (httpx), mount ``secret``.

Each secret is one KV entry ``secret/<name>`` holding ``{"value": "..."}``:
read ``GET /v1/secret/data/<name>``, write ``POST /v1/secret/data/<name>``, delete every
version ``DELETE /v1/secret/metadata/<name>``, list ``GET /v1/secret/metadata/?list=true``.
"""

from __future__ import annotations

import builtins
from typing import Any

import httpx

from agency.errors import ConfigError, NotFound, ServiceUnavailable
from agency.security.base import Keystore, check_secret_name


class VaultKeystore(Keystore):
    """Secrets in Vault's KV v2 engine; the token goes in ``X-Vault-Token``."""

    kind = "vault"

    def __init__(
        self, url: str, token: str | None, *, mount: str = "secret", timeout: float = 10.0
    ) -> None:
        self.url = url.rstrip("/")
        self.mount = mount.strip("/")
        headers = {"X-Vault-Token": token} if token else {}
        self._client = httpx.Client(base_url=self.url, headers=headers, timeout=timeout)

    def close(self) -> None:
        self._client.close()

    def _request(self, method: str, path: str, **kw: Any) -> httpx.Response:
        try:
            resp = self._client.request(method, f"/v1/{self.mount}/{path}", **kw)
        except httpx.TimeoutException as exc:
            raise ServiceUnavailable(f"Vault at {self.url} did not answer in time") from exc
        except httpx.HTTPError as exc:
            raise ServiceUnavailable(
                f"Vault at {self.url} is unreachable: {type(exc).__name__}"
            ) from exc
        if resp.status_code in (401, 403):
            raise ConfigError(
                f"Vault at {self.url} refused the token ({resp.status_code}); check AGENCY_VAULT_TOKEN"
            )
        if resp.status_code >= 500:
            raise ServiceUnavailable(f"Vault at {self.url} answered {resp.status_code}")
        return resp

    def get_secret(self, name: str) -> str:
        resp = self._request("GET", f"data/{check_secret_name(name)}")
        if resp.status_code == 404:
            raise NotFound(f"secret {name!r} not found in Vault", details={"secret": name})
        if resp.status_code != 200:
            raise ServiceUnavailable(f"Vault answered {resp.status_code} reading {name!r}")
        try:
            return str(resp.json()["data"]["data"]["value"])
        except (ValueError, KeyError, TypeError) as exc:
            raise NotFound(
                f"Vault entry {name!r} has no 'value' field", details={"secret": name}
            ) from exc

    def set_secret(self, name: str, value: str) -> None:
        resp = self._request(
            "POST", f"data/{check_secret_name(name)}", json={"data": {"value": value}}
        )
        if resp.status_code not in (200, 204):
            raise ServiceUnavailable(f"Vault answered {resp.status_code} writing {name!r}")

    def delete_secret(self, name: str) -> None:
        check_secret_name(name)
        if name not in self.list():
            raise NotFound(f"secret {name!r} not found in Vault", details={"secret": name})
        resp = self._request("DELETE", f"metadata/{name}")
        if resp.status_code not in (200, 204):
            raise ServiceUnavailable(f"Vault answered {resp.status_code} deleting {name!r}")

    def list(self) -> builtins.list[str]:
        resp = self._request("GET", "metadata/", params={"list": "true"})
        if resp.status_code == 404:  # Vault's answer for an empty mount
            return []
        if resp.status_code != 200:
            raise ServiceUnavailable(f"Vault answered {resp.status_code} listing secrets")
        keys = resp.json().get("data", {}).get("keys", [])
        # folders end with "/": not secrets this keystore wrote
        return sorted(str(k) for k in keys if not str(k).endswith("/"))

    def describe(self) -> str:
        return f"Vault KV v2 at {self.url} (mount {self.mount!r})"
