"""What every page gets: the backend, a client that names the operator, and the live feeds."""

from __future__ import annotations

from dataclasses import dataclass, field

from agency.client import AgencyClient

from .connection import Backend, backend_from_env, operator_name
from .live import Feeds, feeds_for
from .timerange import TimeRange


@dataclass(frozen=True)
class Context:
    """One backend's client and feeds, and who is acting; pages build their widgets from it.

    ``client`` sends ``operator`` on every request, so every action a page takes is audited
    as ``"<token name> (<operator>)"``.
    """

    backend: Backend
    client: AgencyClient
    feeds: Feeds
    operator: str = ""
    #: the time range the pages share (the header's picker, ``?range=`` in the address)
    range: TimeRange = field(default_factory=TimeRange)

    @classmethod
    def for_backend(cls, backend: Backend, operator: str | None = None) -> Context:
        feeds = feeds_for(backend)
        return cls(
            backend=backend,
            client=feeds.client_for(operator),
            feeds=feeds,
            operator=operator or "",
        )

    @classmethod
    def from_env(cls, login_user: str | None = None) -> Context:
        """From ``AGENCY_URL``/``AGENCY_TOKEN``, acting for ``operator_name(login_user)``;
        raises ``HostRefused`` for a host not allowed."""
        return cls.for_backend(backend_from_env(), operator_name(login_user))
