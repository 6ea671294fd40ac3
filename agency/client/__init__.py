"""The Python face of the control plane's API: ``AgencyClient`` and ``AsyncAgencyClient``.

    from agency.client import AgencyClient, AsyncAgencyClient

Both are built over one description of every endpoint (``agency.client.endpoints`` and
``agency.client.chat``: method, path with quoted ids, body model, answer), so they have the
same methods. The package depends on ``agency.models`` and ``agency.errors`` only, reads only
the client's own settings (``ClientSettings``), and imports pandas and pyarrow only when a
DataFrame is asked for. The runbook runner is ``agency.client.runbooks`` (it brings papermill).
"""

from agency.client.aio import AsyncAgencyClient
from agency.client.dag import Workflow
from agency.client.settings import ClientSettings
from agency.client.socket import AsyncChatSocket, ChatSocket
from agency.client.sync import AgencyClient

__all__ = [
    "AgencyClient",
    "AsyncAgencyClient",
    "AsyncChatSocket",
    "ChatSocket",
    "ClientSettings",
    "Workflow",
]
