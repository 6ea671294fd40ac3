"""Module-scoped control planes: one with a real worker, shared by the tests of a module."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from agency.models import Role
from tests.api.stack import ADMIN, Stack, serve


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with serve(tmp_path_factory.mktemp("cp"), workers=1) as s:
        yield s


@pytest.fixture(scope="module")
def admin(stack: Stack) -> Iterator[httpx.Client]:
    with stack.http(ADMIN) as c:
        yield c


@pytest.fixture(scope="module")
def operator(stack: Stack) -> Iterator[httpx.Client]:
    with stack.http(stack.token("olga", Role.OPERATOR)) as c:
        yield c


@pytest.fixture(scope="module")
def viewer(stack: Stack) -> Iterator[httpx.Client]:
    with stack.http(stack.token("vera", Role.VIEWER)) as c:
        yield c
