"""What every page gets: the backend, a shared client and the live feeds."""

from __future__ import annotations

from dataclasses import dataclass

from agency.client import AgencyClient

from .connection import Backend, backend_from_env
from .live import Feeds, feeds_for


@dataclass(frozen=True)
class Context:
    """One backend's client and feeds; pages build their widgets from it."""

    backend: Backend
    client: AgencyClient
    feeds: Feeds

    @classmethod
    def for_backend(cls, backend: Backend) -> Context:
        feeds = feeds_for(backend)
        return cls(backend=backend, client=feeds.client, feeds=feeds)

    @classmethod
    def from_env(cls) -> Context:
        """From ``AGENCY_URL``/``AGENCY_TOKEN``; raises ``HostRefused`` for a host not allowed."""
        return cls.for_backend(backend_from_env())
