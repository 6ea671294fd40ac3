"""The ``Agency-Masked`` response header: what the control plane masked in this request.

Services mask secrets in what users send before they store it (``agency.security.masking``)
and note the kinds they masked in a per-request list; this pure ASGI middleware gives each
request that may carry a body (not GET, HEAD or OPTIONS) a fresh list and, when anything
was masked, answers ``Agency-Masked: keystore secret, API key (sk-)`` so the sender knows.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agency.security.masking import MASKED

HEADER = b"agency-masked"
_READS = frozenset({"GET", "HEAD", "OPTIONS"})


class MaskedHeaderMiddleware:
    """Collects what a request masked and names it in the response's headers."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in _READS:
            await self.app(scope, receive, send)
            return
        found: list[str] = []
        token = MASKED.set(found)

        async def send_noted(message: Message) -> None:
            if message["type"] == "http.response.start" and found:
                headers = list(message.get("headers", []))
                headers.append((HEADER, ", ".join(found).encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_noted)
        finally:
            MASKED.reset(token)
