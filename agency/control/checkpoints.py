"""``CheckpointService``: signed checkpoints of the events chain's head, written outside the
database every ``AGENCY_CHECKPOINT_EVERY`` events or ``AGENCY_CHECKPOINT_SECONDS`` seconds.

Each checkpoint is appended (fsynced) to ``<data_dir>/checkpoints.jsonl``, and to
``AGENCY_CHECKPOINT_DIR`` and ``AGENCY_CHECKPOINT_URL`` when set. The Ed25519 key lives in
the keystore; a control plane whose keystore cannot be opened runs without checkpoints and
says so in its log (the chain itself is unaffected). Writing a checkpoint adds no event.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from agency.errors import AgencyError, ConfigError, HostNotAllowed
from agency.models import utcnow
from agency.security.base import Keystore
from agency.security.checkpoints import LOG_NAME, CheckpointLog, CheckpointReport, append_line
from agency.security.checkpoints import compare as compare_checkpoints
from agency.security.keystore import open_keystore
from agency.security.signing import Checkpoint, CheckpointSigner, open_signer
from agency.security.urlguard import check_https_url
from agency.settings import Settings
from agency.storage import EventRepository

log = logging.getLogger(__name__)

TICK = 1.0  # seconds between looks at the chain head; cheap (one in-memory read)


def checkpoint_log_path(settings: Settings) -> Path:
    return settings.data_dir / LOG_NAME


def checked_checkpoint_url(settings: Settings) -> str | None:
    """``AGENCY_CHECKPOINT_URL`` through the SSRF guard (https, or http to loopback only; an
    allowlisted host), or a ``ConfigError`` that stops the start: a copy that silently goes
    nowhere, or somewhere it should not, is worse than no start."""
    url = settings.checkpoint_url
    if not url:
        return None
    try:
        return check_https_url(url, settings.allowed_host_set)
    except HostNotAllowed as exc:
        raise ConfigError(
            f"AGENCY_CHECKPOINT_URL refused: {exc.details.get('reason', exc.message)}",
            details={"setting": "AGENCY_CHECKPOINT_URL", **exc.details},
        ) from exc


class CheckpointService:
    """Signs the chain head now and then and appends it to the checkpoint logs."""

    def __init__(
        self,
        settings: Settings,
        events: EventRepository,
        keystore: Callable[[Settings], Keystore] = open_keystore,
    ) -> None:
        self.settings = settings
        self.path = checkpoint_log_path(settings)
        self._events = events
        self._keystore = keystore
        self.signer: CheckpointSigner | None = None
        self.last_seq = 0
        self._last_at = time.monotonic()
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self.url = checked_checkpoint_url(settings)

    @property
    def enabled(self) -> bool:
        return self.signer is not None

    async def start(self) -> None:
        """Load (or make) the signing key and start the periodic writer."""
        if self.settings.checkpoint_every == 0:
            return
        try:
            self.signer = await asyncio.to_thread(
                lambda: open_signer(self._keystore(self.settings), self.settings.data_dir)
            )
        except AgencyError as exc:
            log.error("audit checkpoints are off: the signing key is unavailable: %s", exc)
            return
        known = CheckpointLog.read(self.path).checkpoints
        self.last_seq = max((c.seq for c in known), default=0)
        self._task = asyncio.create_task(self._run(), name="audit-checkpoints")

    async def _run(self) -> None:
        every, seconds = self.settings.checkpoint_every, self.settings.checkpoint_seconds
        while True:
            await asyncio.sleep(min(TICK, seconds))
            head = self._events.last_seq
            due = head - self.last_seq >= every or time.monotonic() - self._last_at >= seconds
            if head > self.last_seq and due:
                try:
                    await self.checkpoint()
                except Exception:  # a failed write must not stop later checkpoints
                    log.exception("writing an audit checkpoint failed")

    async def checkpoint(self) -> Checkpoint | None:
        """Sign and write the current head now (``None`` when off or nothing new)."""
        if self.signer is None:
            return None
        async with self._lock:
            head = self._events.last_seq
            if head <= self.last_seq:
                return None
            event = await self._events.get(head)
            if event is None:
                return None
            stamp = utcnow().isoformat().replace("+00:00", "Z")
            cp = self.signer.sign(head, event.hash, stamp)
            await asyncio.to_thread(self._write_files, cp.line())
            await self._post(cp)
            self.last_seq, self._last_at = head, time.monotonic()
            return cp

    def _write_files(self, line: str) -> None:
        append_line(self.path, line)
        if self.settings.checkpoint_dir is not None:
            append_line(self.settings.checkpoint_dir / LOG_NAME, line)

    async def _post(self, cp: Checkpoint) -> None:
        url = self.url
        if not url:
            return
        try:
            async with httpx.AsyncClient(timeout=self.settings.request_timeout) as client:
                answer = await client.post(url, content=cp.line(), headers=_JSON)
                answer.raise_for_status()
        except httpx.HTTPError as exc:  # the local log has it; the remote copy is best effort
            log.warning("posting checkpoint %d to %s failed: %s", cp.seq, url, exc)

    async def verify(self, path: Path | None = None) -> CheckpointReport:
        """The chain compared with the checkpoints in ``path`` (default: the data dir's log)."""
        found = CheckpointLog.read(path or self.path)
        last, hashes = await self._events.chain_heads([c.seq for c in found.checkpoints])
        trusted = [self.signer.public_key] if self.signer is not None else []
        return compare_checkpoints(found, trusted, last, hashes)

    async def close(self) -> None:
        """Stop the writer and checkpoint the final head, so a restart starts from it."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        try:
            await self.checkpoint()
        except Exception:
            log.exception("writing the final audit checkpoint failed")


_JSON = {"content-type": "application/json"}
