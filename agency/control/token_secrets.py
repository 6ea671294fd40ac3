"""Token secrets: how they are made and hashed, and the bootstrap admin secret's file.

The bootstrap admin token is ``AGENCY_ADMIN_TOKEN`` or, when unset, a random one kept in
``<data_dir>/admin.token`` (mode 0600) and reused across restarts.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from pathlib import Path

from agency.settings import Settings


def hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_secret() -> str:
    """A fresh token secret; the prefix makes leaked tokens easy to grep for."""
    return "agy_" + secrets.token_urlsafe(32)


def admin_token_path(settings: Settings) -> Path:
    return settings.data_dir / "admin.token"


def read_or_create_admin_secret(settings: Settings) -> str:
    """``AGENCY_ADMIN_TOKEN``, else the token file's content, else a new file (mode 0600)."""
    if settings.admin_token:
        return settings.admin_token
    path = admin_token_path(settings)
    if path.exists():
        existing = path.read_text().strip()
        if existing:
            return existing
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = new_secret()
    # O_EXCL-free but created with 0600 from the start, so the secret is never world-readable
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(secret + "\n")
    os.chmod(path, 0o600)
    return secret
