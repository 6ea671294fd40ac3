"""Fixtures of the worker tests: real ``agency worker`` processes on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from agency.testing import WorkerProc, start_worker
from tests.worker.common import TOKEN, WORKER_ENV


@pytest.fixture(scope="module")
def worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerProc]:
    """One worker shared by a test module: capacity 4, token ``test-token``, an env keystore
    holding ``API_KEY`` and an echoing agent command."""
    w = start_worker(tmp_path_factory.mktemp("worker"), capacity=4, token=TOKEN, env=WORKER_ENV)
    yield w
    w.stop()


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Callable[..., WorkerProc]]:
    """Start workers with custom flags (``start(capacity=1, env={...})``); all stopped after."""
    started: list[WorkerProc] = []

    def _start(**kw: Any) -> WorkerProc:
        kw.setdefault("data_dir", tmp_path / "data")
        w = start_worker(**kw)
        started.append(w)
        return w

    yield _start
    for w in started:
        w.stop()
