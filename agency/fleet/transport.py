"""HTTP transports the worker client talks through: aiohttp (default) and httpx.

A transport is one pooled HTTP client for one worker endpoint. It sends one request and
returns ``(status, body)``: ``body`` is the decoded JSON object when the worker answered
JSON, the raw bytes otherwise. It never retries and never interprets the status; library
exceptions are translated into ``agency.errors`` before they leave it.

Why two: one ``httpx.AsyncClient`` slows down as more requests share it (httpcore scans its
whole pool per request: 1,110 req/s at 1 in flight, 271 at 64 on this machine) while aiohttp
stays flat (~7,700 req/s at 16). ``AGENCY_HTTP_CLIENT`` picks one; the benchmark
``benchmarks/bench_dispatch.py`` measures both.

Both verify an https worker's certificate the way its registration's ``WorkerTLS`` says
(``agency.fleet.tls``): system CAs by default, a CA file, or a pinned fingerprint.
"""

from __future__ import annotations

import json
import ssl
from typing import Any, Protocol

import aiohttp
import httpx

from agency.fleet.tls import ssl_context
from agency.fleet.translate import translate_exception
from agency.models import WorkerTLS
from agency.settings import Settings

Body = bytes | dict[str, Any]


class Transport(Protocol):
    """One worker endpoint's HTTP client."""

    async def request(
        self,
        method: str,
        url: str,
        *,
        json: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        timeout: float,
    ) -> tuple[int, Body]:
        """Send one request; raise ``WorkerUnavailable``/``WorkerTimeout``/``WorkerError``."""
        ...

    async def aclose(self) -> None:
        """Close the pooled connections; the transport is unusable afterwards."""
        ...


def decode_body(content_type: str, raw: bytes) -> Body:
    """The JSON object of a JSON answer, else the bytes as they came."""
    if raw and "json" in content_type:
        try:
            value = json.loads(raw)
        except ValueError:
            return raw
        if isinstance(value, dict):
            return value
    return raw


class HttpxTransport:
    """``httpx.AsyncClient`` with a connection pool sized to the in-flight bound."""

    name = "httpx"

    def __init__(self, settings: Settings, tls: WorkerTLS | None = None) -> None:
        size = settings.max_in_flight
        self._limits = httpx.Limits(max_connections=size, max_keepalive_connections=size)
        self._tls = tls
        self._client: httpx.AsyncClient | None = None

    def _get(self) -> httpx.AsyncClient:
        # created lazily so the client binds to the loop that uses it
        if self._client is None:
            self._client = httpx.AsyncClient(
                limits=self._limits, follow_redirects=False, verify=ssl_context(self._tls)
            )
        return self._client

    async def request(
        self,
        method: str,
        url: str,
        *,
        json: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        timeout: float,
    ) -> tuple[int, Body]:
        try:
            resp = await self._get().request(
                method, url, json=json, params=params, headers=headers, timeout=timeout
            )
        except Exception as exc:
            raise translate_exception(exc, url=url) from exc
        return resp.status_code, decode_body(resp.headers.get("content-type", ""), resp.content)

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


class AiohttpTransport:
    """``aiohttp.ClientSession`` whose connector holds at most ``max_in_flight`` sockets."""

    name = "aiohttp"

    def __init__(self, settings: Settings, tls: WorkerTLS | None = None) -> None:
        self._limit = settings.max_in_flight
        self._tls = tls
        self._ssl: ssl.SSLContext | None = None
        self._session: aiohttp.ClientSession | None = None

    def _get(self) -> aiohttp.ClientSession:
        # a ClientSession must be created inside the running loop
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self._limit, use_dns_cache=True)
            self._session = aiohttp.ClientSession(connector=connector, raise_for_status=False)
        return self._session

    def _ssl_for(self, url: str) -> ssl.SSLContext | bool:
        # built for the first https request only: loading the system CAs blocked the event
        # loop for 100-200 ms at the first dispatch to each plain-http worker
        if not url.startswith("https:"):
            return True  # aiohttp's default, unused without TLS
        if self._ssl is None:
            self._ssl = ssl_context(self._tls)
        return self._ssl

    async def request(
        self,
        method: str,
        url: str,
        *,
        json: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        timeout: float,
    ) -> tuple[int, Body]:
        try:
            async with self._get().request(
                method,
                url,
                json=json,
                params=params,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=timeout),
                allow_redirects=False,
                ssl=self._ssl_for(url),
            ) as resp:
                raw = await resp.read()
                return resp.status, decode_body(resp.headers.get("Content-Type", ""), raw)
        except Exception as exc:
            raise translate_exception(exc, url=url) from exc

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def make_transport(settings: Settings, tls: WorkerTLS | None = None) -> Transport:
    """The transport ``settings.http_client`` names (``aiohttp`` by default)."""
    if settings.http_client == "httpx":
        return HttpxTransport(settings, tls)
    return AiohttpTransport(settings, tls)
