"""The client's endpoint table against the server's OpenAPI document: every endpoint the
client calls exists with that method and path, and sends the body model the server parses."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from agency.api.app import create_app
from agency.client import chat, endpoints, workflow_endpoints
from agency.client.wire import Endpoint
from agency.settings import Settings

# server operations no client method calls: the worker protocol, and one runbook run by id
NOT_FOR_CLIENTS = {
    ("POST", "/api/v1/workers/{}/heartbeat"),
    ("POST", "/api/v1/workers/{}/reports"),
    ("POST", "/api/v1/workers/register"),
    ("GET", "/api/v1/runbooks/runs/{}"),
}
STREAMS = {
    ("GET", endpoints.EVENTS_STREAM),
    ("GET", endpoints.METRICS_STREAM),
    ("GET", endpoints.TRANSCRIPT_STREAM),
}


@pytest.fixture(scope="module")
def operations(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], set[str]]:
    """(method, path with ``{}`` for each parameter) -> names of the request body's models."""
    data_dir: Path = tmp_path_factory.mktemp("openapi")
    spec = create_app(Settings.load(env={}, data_dir=data_dir)).openapi()
    found: dict[tuple[str, str], set[str]] = {}
    for path, ops in spec["paths"].items():
        if not path.startswith(("/api/", "/health", "/metrics")):
            continue
        for method, op in ops.items():
            schema = (
                op.get("requestBody", {})
                .get("content", {})
                .get("application/json", {})
                .get("schema")
            )
            found[(method.upper(), re.sub(r"\{[^}]+\}", "{}", path))] = _refs(schema)
    return found


def _refs(schema: Any) -> set[str]:
    if not schema:
        return set()
    # a union is anyOf, a discriminated one (POST /api/v1/tasks) oneOf
    options = schema.get("anyOf") or schema.get("oneOf") or [schema]
    return {o["$ref"].rsplit("/", 1)[-1] for o in options if "$ref" in o}


def table() -> list[Endpoint[Any]]:
    return [
        value
        for module in (endpoints, chat, workflow_endpoints)
        for value in vars(module).values()
        if isinstance(value, Endpoint)
    ]


def test_every_client_endpoint_is_a_server_route_with_the_same_body_model(
    operations: dict[tuple[str, str], set[str]],
) -> None:
    for ep in table():
        key = (ep.method, ep.path)
        assert key in operations, f"{key} is not a route of the server"
        server_bodies = operations[key]
        if ep.body is None:
            assert server_bodies == set(), f"{key}: the server takes a body"
        else:
            assert ep.body.__name__ in server_bodies, f"{key}: {server_bodies}"


def test_every_route_for_clients_has_an_endpoint(
    operations: dict[tuple[str, str], set[str]],
) -> None:
    described = {(ep.method, ep.path) for ep in table()} | STREAMS
    assert sorted(set(operations) - described - NOT_FOR_CLIENTS) == []
