"""``agency worker``: the reference worker runtime (the command lives in ``agency.worker.command``)."""

from __future__ import annotations

from agency.worker.command import app

__all__ = ["app"]
