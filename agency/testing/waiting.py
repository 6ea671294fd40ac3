"""Bounded waits: poll a condition, or a server's ``/health``, until it holds or time runs out."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from typing import TypeVar

import httpx

__all__ = ["START_TIMEOUT", "wait_for", "wait_healthy"]

T = TypeVar("T")

#: how long a server (worker, control plane) gets to answer ``/health`` after it is started
START_TIMEOUT = 30.0


def wait_for(
    check: Callable[[], T], timeout: float = 30.0, what: str = "a condition", every: float = 0.05
) -> T:
    """Poll ``check`` until it returns something truthy, and return that.

    An exception from ``check`` counts as "not yet" (the server may not be up); after
    ``timeout`` seconds a ``TimeoutError`` names ``what`` and the last answer or exception.
    """
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            answer = check()
            if answer:
                return answer
            last = answer
        except Exception as exc:
            last = exc
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout:g}s waiting for {what} (last: {last!r})")
        time.sleep(every)


def wait_healthy(
    url: str,
    timeout: float = START_TIMEOUT,
    proc: subprocess.Popen[bytes] | None = None,
    *,
    path: str = "/health",
) -> None:
    """Poll ``GET {url}{path}`` until 200; raise if ``proc`` exits or time runs out."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before {url}{path} answered")
        try:
            if httpx.get(url + path, timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError as exc:
            last = exc
        time.sleep(0.05)
    raise TimeoutError(f"{url}{path} did not answer within {timeout}s (last error: {last})")
