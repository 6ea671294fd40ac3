"""The worker's side of the control plane: register, heartbeat, push task reports.

Reports wait in an in-memory queue, one entry per (task, attempt) (a newer state replaces a
queued older one, so the queue never outgrows the task table), and are sent in order with
tenacity retries (exponential backoff, full jitter, no attempt limit): a control plane that
is away delays reports but never loses them, and the worker keeps running meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import httpx
from pydantic import BaseModel
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, wait_random_exponential

from agency.models import WorkerHeartbeat, WorkerRegistration, WorkerReport, WorkerTaskStatus

log = logging.getLogger(__name__)

BACKOFF_BASE = 0.05
BACKOFF_MAX = 5.0
# answers that retrying can fix: the control plane is starting, overloaded or misconfigured
RETRY_STATUS = frozenset({401, 403, 408, 425, 429, 500, 502, 503, 504})


class _Retry(Exception):
    """A push failed in a way worth retrying (network, 5xx, auth not yet provisioned)."""


class _Unregistered(Exception):
    """The control plane does not know this worker (it restarted): register again."""


class ControlPlaneLink:
    """Registration, heartbeats and the report queue of one worker."""

    def __init__(
        self,
        base_url: str,
        token: str | None,
        registration: Callable[[], WorkerRegistration],
        heartbeat: Callable[[], WorkerHeartbeat],
        interval: float,
        timeout: float = 5.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.registration = registration
        self.heartbeat = heartbeat
        self.interval = interval
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.client = httpx.AsyncClient(headers=headers, timeout=timeout)
        self.queue: OrderedDict[tuple[str, int], WorkerTaskStatus] = OrderedDict()
        self.wakeup = asyncio.Event()
        self.registered = asyncio.Event()
        self.sent = 0
        self.failures = 0
        self.tasks: list[asyncio.Task[None]] = []

    @property
    def worker_id(self) -> str:
        return self.registration().id

    def report(self, status: WorkerTaskStatus) -> None:
        """Queue ``status`` for the control plane; never blocks, never raises."""
        key = (status.task_id, status.attempt)
        self.queue[key] = status  # replaces a queued older state, keeps its place in line
        self.wakeup.set()

    async def start(self) -> None:
        self.tasks = [
            asyncio.create_task(self._register_loop()),
            asyncio.create_task(self._report_loop()),
            asyncio.create_task(self._heartbeat_loop()),
        ]

    async def stop(self, flush_timeout: float = 2.0) -> None:
        """Give queued reports up to ``flush_timeout`` to go out, then stop every loop."""
        deadline = time.monotonic() + flush_timeout
        while self.queue and self.registered.is_set() and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.client.aclose()

    # --- loops ------------------------------------------------------------------------------

    async def _register_loop(self) -> None:
        while True:
            await self._with_retries("register", "/api/v1/workers/register", self.registration)
            self.registered.set()
            log.info("registered with %s as %s", self.base_url, self.worker_id)
            while self.registered.is_set():
                await asyncio.sleep(self.interval)

    async def _heartbeat_loop(self) -> None:
        while True:
            await self.registered.wait()
            try:
                answer = await self._post(
                    f"/api/v1/workers/{self.worker_id}/heartbeat", self.heartbeat()
                )
                if answer.get("register_again"):
                    # the control plane restarted and lost our credential: hand it over again
                    log.info("control plane %s asks for the registration again", self.base_url)
                    self.registered.clear()
            except _Unregistered:
                self.registered.clear()
            except _Retry as exc:
                log.warning("heartbeat to %s failed: %s", self.base_url, exc)
            await asyncio.sleep(self.interval)

    async def _report_loop(self) -> None:
        while True:
            if not self.queue:
                self.wakeup.clear()
                await self.wakeup.wait()
                continue
            await self.registered.wait()
            key, status = next(iter(self.queue.items()))
            body = WorkerReport(worker_id=self.worker_id, status=status)
            await self._with_retries("report", f"/api/v1/workers/{self.worker_id}/reports", body)
            if self.queue.get(key) is status:  # a newer state queued meanwhile goes out next
                del self.queue[key]
            self.sent += 1

    # --- HTTP -------------------------------------------------------------------------------

    async def _with_retries(
        self, what: str, path: str, body: BaseModel | Callable[[], BaseModel]
    ) -> None:
        """POST until accepted; ``body`` may be a factory (registration is rebuilt each try)."""
        retrying = AsyncRetrying(
            wait=wait_random_exponential(multiplier=BACKOFF_BASE, max=BACKOFF_MAX),
            retry=retry_if_exception_type((_Retry, _Unregistered)),
            before_sleep=lambda state: self._log_retry(what, state),
        )
        async for attempt in retrying:
            with attempt:
                try:
                    await self._post(path, body if isinstance(body, BaseModel) else body())
                except _Unregistered:
                    if what != "register":
                        self.registered.clear()
                        await self.registered.wait()
                    raise

    async def _post(self, path: str, body: BaseModel) -> dict[str, Any]:
        """POST ``body``; the JSON object answered (empty when it is not one)."""
        url = self.base_url + path
        try:
            resp = await self.client.post(
                url, content=body.model_dump_json(), headers={"Content-Type": "application/json"}
            )
        except httpx.HTTPError as exc:
            raise _Retry(f"{type(exc).__name__}: {exc}") from exc
        if resp.status_code == 404:
            raise _Unregistered(f"404 from {url}")
        if resp.status_code in RETRY_STATUS:
            raise _Retry(f"{resp.status_code} from {url}")
        if resp.status_code >= 400:
            # the control plane refuses this body for good (bad shape, invalid transition):
            # retrying cannot help, and it polls the worker for the truth anyway
            log.error("control plane refused %s: %s %s", url, resp.status_code, resp.text[:500])
            return {}
        try:
            answer = resp.json()
        except ValueError:
            return {}
        return answer if isinstance(answer, dict) else {}

    def _log_retry(self, what: str, state: RetryCallState) -> None:
        self.failures += 1
        exc = state.outcome.exception() if state.outcome else None
        log.warning(
            "%s to %s failed (attempt %d): %s; retrying",
            what,
            self.base_url,
            state.attempt_number,
            exc,
        )
