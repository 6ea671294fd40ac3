"""Task tokens: the short-lived bearer a process task gets to delegate work (child tasks).

A task token names one attempt of one task and its expiry, signed with HMAC-SHA256 under a key
derived from the bootstrap admin secret: ``agyt_<task id>.<attempt>.<expiry>.<signature>``.
Nothing is stored, so minting one per dispatch costs no write, and ``api_tokens`` does not grow
by a row per attempt. It is good while all of these hold:

- the signature matches (the key survives a restart; changing the admin secret voids them all);
- it has not expired (the attempt's deadline plus a margin, else ``AGENCY_TASK_TOKEN_TTL``);
- its attempt is the task's current one and still running (``dispatched`` or ``running``):
  a task that ends, is being canceled, or is retried revokes its token at once.

What the token may do (create children, read its subtree) is enforced by the gate and the
task routes through ``Principal.scope``; see ``TaskTokens.principal``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from agency.control.token_secrets import read_or_create_admin_secret
from agency.errors import TokenExpired, Unauthorized
from agency.models import utcnow
from agency.settings import Settings

PREFIX = "agyt_"
_CONTEXT = b"agency task tokens v1"


def actor_of(task_id: str) -> str:
    """The actor a task token's calls are audited as."""
    return f"task:{task_id}"


@dataclass(frozen=True)
class TaskGrant:
    """What a verified task token grants: acting for ``task_id``'s attempt ``attempt``."""

    task_id: str
    attempt: int
    expires_at: datetime


class TaskTokens:
    """Mints and verifies task tokens; ``live(task_id, attempt)`` says whether an attempt
    still runs (the orchestrator's memory), which is what revokes a token with its task."""

    def __init__(self, key: bytes, live: Callable[[str, int], bool] | None = None) -> None:
        self._key = key
        self.live: Callable[[str, int], bool] = live or (lambda _task, _attempt: False)

    @classmethod
    def from_settings(cls, settings: Settings) -> TaskTokens:
        """Keyed by the bootstrap admin secret, so tokens outlive a control-plane restart."""
        secret = read_or_create_admin_secret(settings).encode()
        return cls(hmac.new(secret, _CONTEXT, hashlib.sha256).digest())

    def _sign(self, body: str) -> str:
        mac = hmac.new(self._key, body.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).decode().rstrip("=")

    def mint(self, task_id: str, attempt: int, expires_at: datetime) -> str:
        """A token for ``task_id``'s attempt ``attempt``, valid until ``expires_at`` at most."""
        body = f"{task_id}.{attempt}.{int(expires_at.timestamp())}"
        return f"{PREFIX}{body}.{self._sign(body)}"

    @staticmethod
    def is_task_token(secret: str) -> bool:
        return secret.startswith(PREFIX)

    def verify(self, secret: str) -> TaskGrant:
        """The grant of ``secret``; ``Unauthorized`` when forged or its attempt has ended,
        ``TokenExpired`` past its expiry."""
        body, _, signature = secret.removeprefix(PREFIX).rpartition(".")
        task_id, _, rest = body.rpartition(".")  # a task id may hold dots; the numbers do not
        task_id, _, attempt_text = task_id.rpartition(".")
        expiry_text = rest
        if not (
            task_id
            and attempt_text.isdigit()
            and expiry_text.isdigit()
            and hmac.compare_digest(signature, self._sign(body))
        ):
            raise Unauthorized("unknown token")
        grant = TaskGrant(
            task_id, int(attempt_text), datetime.fromtimestamp(int(expiry_text), tz=UTC)
        )
        token_id = actor_of(task_id)
        if utcnow() >= grant.expires_at:
            raise TokenExpired(
                f"this task token expired at {grant.expires_at.isoformat()}",
                details={"token_id": token_id, "expired_at": grant.expires_at.isoformat()},
            )
        if not self.live(grant.task_id, grant.attempt):
            raise Unauthorized(
                f"this task token ended with attempt {grant.attempt} of task {task_id}",
                details={"token_id": token_id, "task_id": task_id},
            )
        return grant
