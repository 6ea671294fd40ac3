"""Module-scoped control planes (``agency.testing.serve``), shared by the tests of a module.

A module picks its control plane with ``pytestmark = pytest.mark.plane("<name>")``; without
the mark it gets ``fleet``:

- ``fleet``: one real worker, and the users ``olga`` (operator) and ``vera`` (viewer);
- ``limits``: no worker, ``LIMITS`` (a 100-row cap, a 1 s query timeout, a 4 KiB body limit:
  the query, chat and alert refusals are reachable), and the users ``olivia`` and ``victor``.

(``tests/api/planes.py`` describes them.)
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from agency.models import Role
from agency.testing import ADMIN, Stack, serve
from tests.api.planes import PLANES, Plane


@pytest.fixture(scope="module")
def plane(request: pytest.FixtureRequest) -> Plane:
    marker = request.node.get_closest_marker("plane")
    return PLANES[marker.args[0] if marker else "fleet"]


@pytest.fixture(scope="module")
def stack(plane: Plane, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with serve(tmp_path_factory.mktemp("cp"), **plane.options) as s:
        yield s


@pytest.fixture(scope="module")
def admin(stack: Stack) -> Iterator[httpx.Client]:
    with stack.http(ADMIN) as c:
        yield c


@pytest.fixture(scope="module")
def operator(stack: Stack, plane: Plane) -> Iterator[httpx.Client]:
    with stack.http(stack.token(plane.operator, Role.OPERATOR)) as c:
        yield c


@pytest.fixture(scope="module")
def viewer(stack: Stack, plane: Plane) -> Iterator[httpx.Client]:
    with stack.http(stack.token(plane.viewer, Role.VIEWER)) as c:
        yield c
