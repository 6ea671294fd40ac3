"""``AsyncAgencyClient`` has every public method of ``AgencyClient``: same name, same
parameters, as a coroutine (an async iterator for a stream, an async socket for ``chat``)."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from agency.client import AgencyClient, AsyncAgencyClient

RENAMED = {"close": "aclose"}  # httpx's names: Client.close, AsyncClient.aclose
FACTORIES = {"chat"}  # return the async twin of what the sync method returns
ASYNC_NAMES = {"Iterator[": "AsyncIterator[", "ChatSocket": "AsyncChatSocket"}


def public(cls: type) -> dict[str, Callable[..., Any]]:
    return {
        name: getattr(cls, name)
        for name in dir(cls)
        if not name.startswith("_") and callable(getattr(cls, name))
    }


def parameters(method: Callable[..., Any]) -> list[inspect.Parameter]:
    return list(inspect.signature(method).parameters.values())[1:]  # without self


def async_return(annotation: str) -> str:
    for sync_name, async_name in ASYNC_NAMES.items():
        annotation = annotation.replace(sync_name, async_name)
    return annotation


def test_every_sync_method_has_an_async_twin() -> None:
    sync, aio = public(AgencyClient), public(AsyncAgencyClient)
    twins = {RENAMED.get(name, name) for name in sync}
    assert sorted(twins - set(aio)) == [], "methods without an async twin"
    assert sorted(set(aio) - twins) == [], "async methods without a sync one"
    assert len(sync) >= 50


def test_twins_take_the_same_parameters_and_are_async() -> None:
    aio = public(AsyncAgencyClient)
    for name, method in public(AgencyClient).items():
        twin = aio[RENAMED.get(name, name)]
        assert parameters(method) == parameters(twin), name
        sync_returns = inspect.signature(method).return_annotation
        assert async_return(sync_returns) == inspect.signature(twin).return_annotation, name
        if name in FACTORIES:
            assert not inspect.iscoroutinefunction(twin), name
        elif inspect.isgeneratorfunction(method):
            assert inspect.isasyncgenfunction(twin), name
        else:
            assert inspect.iscoroutinefunction(twin), name


def test_both_faces_take_the_same_constructor_arguments() -> None:
    sync = inspect.signature(AgencyClient.__init__).parameters
    aio = inspect.signature(AsyncAgencyClient.__init__).parameters
    assert list(sync) == list(aio)
    assert [p.default for p in sync.values()] == [p.default for p in aio.values()]
