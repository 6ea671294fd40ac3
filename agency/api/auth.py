"""Who may be served: refusing to listen beyond loopback without auth.

Tokens themselves (``TokenBook``) and the rate limit are services of ``agency.control``;
``deps.require`` applies them to each request.
"""

from __future__ import annotations

import ipaddress

from agency.errors import ConfigError
from agency.settings import Settings


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_exposure(settings: Settings) -> None:
    """Refuse to serve beyond loopback without auth (``ConfigError``)."""
    if not settings.auth and not is_loopback(settings.host):
        raise ConfigError(
            f"refusing to listen on {settings.host} with AGENCY_AUTH=false: anyone could act as admin; "
            "listen on 127.0.0.1 or turn auth on",
            details={"host": settings.host},
        )
