"""Talking to an OpenAI-compatible chat model: one streaming completion at a time."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx


def completions_url(url: str) -> str:
    """Accept either the base URL (``.../v1``) or the full ``.../chat/completions`` endpoint."""
    url = url.rstrip("/")
    return url if url.endswith("/chat/completions") else url + "/chat/completions"


async def stream_chat_completion(
    url: str,
    model: str,
    messages: list[dict[str, str]],
    *,
    api_key: str | None,
    timeout: float,
) -> AsyncIterator[str]:
    """POST an OpenAI-style streaming chat completion and yield the content deltas.

    The answer is server-sent events: ``data: {"choices": [{"delta": {"content": ...}}]}``
    lines, ended by ``data: [DONE]``. A server that ignores ``stream`` and answers one JSON
    object is accepted too.
    """
    headers = {"Accept": "text/event-stream"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    body = {"model": model, "messages": messages, "stream": True}
    async with (
        httpx.AsyncClient(timeout=httpx.Timeout(timeout)) as client,
        client.stream("POST", url, json=body, headers=headers) as resp,
    ):
        resp.raise_for_status()
        if not resp.headers.get("content-type", "").startswith("text/event-stream"):
            data = json.loads(await resp.aread())
            yield str(data["choices"][0]["message"]["content"])
            return
        async for line in resp.aiter_lines():
            if not line.startswith("data:"):
                continue  # comments, event names, blank separators
            payload = line[5:].strip()
            if payload == "[DONE]":
                return
            chunk = json.loads(payload)
            for choice in chunk.get("choices") or []:
                piece = (choice.get("delta") or {}).get("content")
                if piece:
                    yield str(piece)


def describe_failure(exc: Exception) -> str:
    """What went wrong with a model call, for the operator."""
    if isinstance(exc, httpx.HTTPStatusError):
        return f"HTTP {exc.response.status_code} from {exc.request.url}"
    return f"{type(exc).__name__}: {exc}"
