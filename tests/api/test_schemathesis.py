"""Property-based run of every operation in /openapi.json (schemathesis): with valid and
invalid inputs the API never answers 5xx, and every answer matches its declared schema."""

from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from agency.testing import ADMIN, serve

STREAMS = {"/api/v1/metrics/stream", "/api/v1/events/stream"}  # endless bodies: tested apart
EXAMPLES = 12
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.mark.slow
def test_openapi_operations_never_500_and_match_the_schema(tmp_path: Path) -> None:
    with serve(tmp_path, max_body_bytes=64 * 1024) as stack:
        schema = schemathesis.openapi.from_url(stack.url + "/openapi.json")
        operations = [r.ok() for r in schema.get_all_operations()]
        tested = []
        for op in operations:
            if op.path in STREAMS:
                continue
            strategy = st.one_of(
                op.as_strategy(GenerationMode.POSITIVE), op.as_strategy(GenerationMode.NEGATIVE)
            )

            @hsettings(
                max_examples=EXAMPLES,
                deadline=None,
                derandomize=True,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            @given(case=strategy)
            def run(case: schemathesis.Case) -> None:
                case.call_and_validate(
                    base_url=stack.url, headers={"Authorization": f"Bearer {ADMIN}"}, checks=CHECKS
                )

            run()
            tested.append(f"{op.method.upper()} {op.path}")
        assert len(tested) >= 20, tested
        with stack.http() as http:
            counted = sum(
                float(line.split()[-1])
                for line in http.get("/metrics").text.splitlines()
                if line.startswith("agency_http_requests_total")
            )
            statuses = {
                line.split('status="')[1][:3]
                for line in http.get("/metrics").text.splitlines()
                if line.startswith("agency_http_requests_total")
            }
        assert counted >= len(tested) * 5, counted  # hypothesis really sent the cases
        assert not any(s.startswith("5") for s in statuses), statuses
        assert {"200", "201", "404", "422"} <= statuses, statuses
