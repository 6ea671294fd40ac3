"""Which control plane the dashboard talks to, and whether it may.

The dashboard is a client of the API like a notebook: ``AGENCY_URL`` names the control plane
and ``AGENCY_TOKEN`` (or the admin token file the client finds by itself) authenticates it.
The backend host is checked against ``AGENCY_ALLOWED_HOSTS`` before any request leaves the
process, so a dashboard cannot be pointed at an arbitrary host (SSRF guard). The settings
module is out of reach of dashboards by the import contract, so the variables are read here
with the same names and defaults.
"""

from __future__ import annotations

import getpass
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from agency.client import AgencyClient

DEFAULT_URL = "http://127.0.0.1:8080"
DEFAULT_ALLOWED_HOSTS = "127.0.0.1,localhost,::1"


class HostRefused(ValueError):
    """The backend URL is malformed or its host is outside the allowlist."""


@dataclass(frozen=True)
class Backend:
    """Where the control plane is and how to authenticate; ``token=None`` lets the client find one."""

    url: str
    token: str | None = None

    def client(self, operator: str | None = None) -> AgencyClient:
        """A sync client naming ``operator`` on its requests; it is thread-safe, so the
        dashboard shares one per backend and person."""
        return AgencyClient(url=self.url, token=self.token, operator=operator)


def allowed_hosts(env: Mapping[str, str] | None = None) -> frozenset[str]:
    """The hosts the dashboard may talk to (``AGENCY_ALLOWED_HOSTS``, comma-separated)."""
    env = os.environ if env is None else env
    raw = env.get("AGENCY_ALLOWED_HOSTS") or DEFAULT_ALLOWED_HOSTS
    return frozenset(h.strip().lower().strip("[]") for h in raw.split(",") if h.strip())


def check_url(url: str, env: Mapping[str, str] | None = None) -> str:
    """Return ``url`` without a trailing slash, or raise ``HostRefused`` saying why not."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise HostRefused(f"AGENCY_URL {url!r} is not an http(s) URL with a host")
    allowed = allowed_hosts(env)
    host = parts.hostname.lower()
    if host not in allowed:
        raise HostRefused(
            f"the control plane host {host!r} is not in AGENCY_ALLOWED_HOSTS "
            f"({', '.join(sorted(allowed))}); add it there to let the dashboard talk to it"
        )
    return url.strip().rstrip("/")


def operator_name(login_user: str | None = None, env: Mapping[str, str] | None = None) -> str:
    """Who is acting, as the audit trail will say: the Panel login user when the dashboard
    runs with auth, else ``AGENCY_OPERATOR``, else the OS user running the dashboard."""
    env = os.environ if env is None else env
    for name in (login_user, env.get("AGENCY_OPERATOR")):
        if name and name.strip():
            return _plain(name)
    try:
        return _plain(getpass.getuser())
    except (KeyError, OSError):  # no passwd entry (some containers): still say something
        return "dashboard"


def _plain(name: str) -> str:
    """The name as the API accepts it (``X-Agency-Operator``: 64 plain characters)."""
    text = re.sub(r"[^A-Za-z0-9 ._@+-]", "_", name.strip())[:64]
    return text if text[:1].isalnum() else f"u{text}"[:64]


def backend_from_env(env: Mapping[str, str] | None = None) -> Backend:
    """The backend named by ``AGENCY_URL`` / ``AGENCY_TOKEN``, checked against the allowlist."""
    env = os.environ if env is None else env
    url = check_url(env.get("AGENCY_URL") or DEFAULT_URL, env)
    return Backend(url=url, token=env.get("AGENCY_TOKEN") or None)
