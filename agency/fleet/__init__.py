"""Control-plane side of workers: the resilient worker client and the registry.

``WorkerClient`` talks to one worker through a ``Transport`` (aiohttp or httpx, chosen by
``AGENCY_HTTP_CLIENT``) with tenacity retries and a pybreaker circuit breaker; ``Registry``
holds every worker, its health, and a client for each.
"""

from agency.fleet.breaker import BreakerState, WorkerBreaker
from agency.fleet.client import WorkerClient
from agency.fleet.registry import Registry, check_worker_url
from agency.fleet.translate import error_from_answer, translate_exception
from agency.fleet.transport import AiohttpTransport, HttpxTransport, Transport, make_transport

__all__ = [
    "AiohttpTransport",
    "BreakerState",
    "HttpxTransport",
    "Registry",
    "Transport",
    "WorkerBreaker",
    "WorkerClient",
    "check_worker_url",
    "error_from_answer",
    "make_transport",
    "translate_exception",
]
