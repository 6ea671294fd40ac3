"""Registry: registration and the SSRF guard, heartbeats and sweep, discovery, slots, drain."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest

from agency.errors import HostNotAllowed, NotFound, WorkerFull
from agency.fleet import Registry, check_worker_url
from agency.models import WorkerHealth, WorkerHeartbeat, WorkerInfo, WorkerRegistration


class Clock:
    """A hand-moved monotonic clock: heartbeat ages without waiting."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def reg(
    wid: str,
    *,
    port: int = 9001,
    kinds: tuple[str, ...] = ("noop", "shell"),
    capacity: int = 2,
    labels: dict[str, str] | None = None,
    host: str = "127.0.0.1",
) -> WorkerRegistration:
    return WorkerRegistration(
        id=wid,
        url=f"http://{host}:{port}",
        kinds=list(kinds),
        capacity=capacity,
        labels=labels or {},
    )


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def changes() -> list[WorkerInfo]:
    return []


@pytest.fixture
async def registry(
    make_settings: Any, clock: Clock, changes: list[WorkerInfo]
) -> AsyncIterator[Registry]:
    async def on_change(info: WorkerInfo) -> None:
        changes.append(info)

    r = Registry(
        make_settings(heartbeat_interval=2.0, retry_attempts=1, breaker_fail_max=2),
        on_change=on_change,
        clock=clock,
    )
    yield r
    await r.aclose()


async def test_register_get_list(registry: Registry, changes: list[WorkerInfo]) -> None:
    info = await registry.register(reg("b", labels={"zone": "eu"}))
    await registry.register(reg("a", port=9002))
    assert info.health is WorkerHealth.HEALTHY and info.breaker == "closed" and info.running == 0
    assert [w.id for w in registry.list()] == ["a", "b"]
    assert registry.get("b").labels == {"zone": "eu"}
    assert registry.client("b").base_url == "http://127.0.0.1:9001"
    assert [c.id for c in changes] == ["b", "a"]
    with pytest.raises(NotFound):
        registry.get("zzz")


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data",
        "http://10.0.0.5:8101",
        "file:///etc/passwd",
        "http://127.0.0.1.evil.example:80",
        "gopher://127.0.0.1:70",
        "http://:80",
        "http://127.0.0.1:99999",
    ],
)
async def test_registration_outside_allowlist_is_refused(
    registry: Registry, url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="agency.fleet")
    with pytest.raises(HostNotAllowed) as err:
        await registry.register(WorkerRegistration(id="evil", url=url, kinds=["noop"], capacity=1))
    assert err.value.status == 403
    assert registry.list() == []
    assert any("registration refused" in r.getMessage() for r in caplog.records)


def test_allowlist_accepts_configured_hosts() -> None:
    allowed = frozenset({"127.0.0.1", "localhost", "::1", "worker-1.lan"})
    for url in (
        "http://127.0.0.1:8101",
        "http://LOCALHOST:8101/",
        "http://[::1]:8101",
        "https://worker-1.lan",
    ):
        check_worker_url(url, allowed)


async def test_heartbeat_sweep_and_recovery(
    registry: Registry, clock: Clock, changes: list[WorkerInfo]
) -> None:
    await registry.register(reg("w1"))
    await registry.register(reg("w2", port=9002))
    with pytest.raises(NotFound):
        await registry.heartbeat(WorkerHeartbeat(id="ghost"))
    clock.now += 5.0  # within 3 x 2s
    await registry.heartbeat(WorkerHeartbeat(id="w2", running=["t9"]))
    assert await registry.sweep() == []
    clock.now += 1.5  # w1 silent 6.5s > 6s; w2 silent 1.5s
    swept = await registry.sweep()
    assert [w.id for w in swept] == ["w1"] and swept[0].health is WorkerHealth.UNHEALTHY
    assert await registry.sweep() == []  # only changes are returned
    assert registry.candidates("noop", {})[0].id == "w2"
    assert [w.id for w in registry.candidates("noop", {})] == ["w2"]
    n = len(changes)
    back = await registry.heartbeat(WorkerHeartbeat(id="w1"))
    assert back.health is WorkerHealth.HEALTHY and back.last_heartbeat is not None
    assert len(changes) == n + 1 and changes[-1].health is WorkerHealth.HEALTHY
    assert registry.reported_running("w2") == ["t9"]


async def test_candidates_filter_and_order(registry: Registry) -> None:
    await registry.register(reg("gpu", port=9001, capacity=2, labels={"gpu": "a100", "zone": "eu"}))
    await registry.register(reg("big", port=9002, capacity=4, labels={"zone": "eu"}))
    await registry.register(reg("sh", port=9003, capacity=1, kinds=("shell",)))
    ids = lambda kind, labels: [w.id for w in registry.candidates(kind, labels)]  # noqa: E731
    assert ids("noop", {}) == ["big", "gpu"]  # equal load: the larger first, then by id
    assert ids("noop", {"gpu": "a100"}) == ["gpu"]  # task labels are requirements
    assert ids("noop", {"gpu": "h100"}) == []
    assert ids("noop", {"zone": "eu"}) == ["big", "gpu"]
    assert ids("agent", {}) == []
    assert ids("shell", {}) == ["big", "gpu", "sh"]
    registry.reserve("big")
    registry.reserve("big")  # big at 2/4 = 0.5, gpu 0/2
    assert ids("noop", {}) == ["gpu", "big"]
    registry.reserve("gpu")
    registry.reserve("gpu")  # gpu full
    assert ids("noop", {}) == ["big"]
    assert registry.get("gpu").running == 2
    with pytest.raises(WorkerFull):
        registry.reserve("gpu")
    registry.release("gpu")
    assert ids("noop", {}) == ["big", "gpu"]
    for _ in range(5):
        registry.release("sh")  # never below zero
    assert registry.get("sh").running == 0


async def test_open_breaker_excludes_worker(registry: Registry, closed_url: str) -> None:
    port = int(closed_url.rsplit(":", 1)[1])
    await registry.register(reg("dead", port=port))
    await registry.register(reg("ok", port=9002))
    client = registry.client("dead")
    for _ in range(2):
        assert await client.health() is False
    dead = registry.get("dead")
    assert dead.breaker == "open" and dead.recent_failures == 2
    assert [w.id for w in registry.candidates("noop", {})] == ["ok"]
    assert {w.id: w.breaker for w in registry.list()} == {"dead": "open", "ok": "closed"}


async def test_drain_sticks_and_remove_forgets(
    registry: Registry, changes: list[WorkerInfo]
) -> None:
    await registry.register(reg("w1"))
    drained = await registry.drain("w1")
    assert drained.health is WorkerHealth.DRAINING
    assert registry.candidates("noop", {}) == []
    # a heartbeat that does not say draining does not undo an operator's drain
    assert (await registry.heartbeat(WorkerHeartbeat(id="w1"))).health is WorkerHealth.DRAINING
    await registry.register(reg("w2", port=9002))
    assert (
        await registry.heartbeat(WorkerHeartbeat(id="w2", draining=True))
    ).health is WorkerHealth.DRAINING
    assert (await registry.heartbeat(WorkerHeartbeat(id="w2"))).health is WorkerHealth.HEALTHY
    removed = await registry.remove("w1")
    assert removed.health is WorkerHealth.REMOVED and changes[-1].health is WorkerHealth.REMOVED
    assert [w.id for w in registry.list()] == ["w2"]
    with pytest.raises(NotFound):
        await registry.remove("w1")
    with pytest.raises(NotFound):
        await registry.heartbeat(WorkerHeartbeat(id="w1"))


async def test_reregistration_keeps_or_replaces_client(registry: Registry) -> None:
    first = await registry.register(reg("w1"))
    client = registry.client("w1")
    again = await registry.register(reg("w1", capacity=8))
    assert registry.client("w1") is client and again.capacity == 8
    assert again.registered_at == first.registered_at
    await registry.register(reg("w1", port=9009))
    assert registry.client("w1") is not client
    assert registry.client("w1").base_url.endswith(":9009")


async def test_restore_is_unhealthy_until_heartbeat(registry: Registry, clock: Clock) -> None:
    stored = [
        WorkerInfo(id="w1", url="http://127.0.0.1:9001", kinds=["noop"], capacity=2, running=2),
        WorkerInfo(
            id="w2",
            url="http://127.0.0.1:9002",
            kinds=["noop"],
            capacity=2,
            health=WorkerHealth.DRAINING,
        ),
        WorkerInfo(
            id="gone",
            url="http://127.0.0.1:9003",
            kinds=["noop"],
            capacity=2,
            health=WorkerHealth.REMOVED,
        ),
    ]
    registry.restore(stored)
    assert {w.id: w.health for w in registry.list()} == {
        "w1": WorkerHealth.UNHEALTHY,
        "w2": WorkerHealth.UNHEALTHY,
    }
    assert registry.candidates("noop", {}) == []
    clock.now += 100
    assert await registry.sweep() == []
    assert (await registry.heartbeat(WorkerHeartbeat(id="w1"))).health is WorkerHealth.HEALTHY
    assert (await registry.heartbeat(WorkerHeartbeat(id="w2"))).health is WorkerHealth.DRAINING
    assert [w.id for w in registry.candidates("noop", {})] == ["w1"]
    assert registry.get("w1").running == 0  # slots are the dispatcher's to reserve again


async def test_the_registration_secret_is_the_bearer_toward_the_worker(
    registry: Registry,
) -> None:
    await registry.register(reg("w1").model_copy(update={"secret": "s" * 20}))
    client = registry.client("w1")
    assert client._headers == {"Authorization": "Bearer " + "s" * 20}
    # a restarted worker brings a new secret: same client, new bearer
    await registry.register(reg("w1").model_copy(update={"secret": "t" * 20}))
    assert registry.client("w1") is client
    assert client._headers == {"Authorization": "Bearer " + "t" * 20}
    assert "secret" not in registry.get("w1").model_dump()


async def test_a_restored_worker_is_asked_to_register_again(registry: Registry) -> None:
    registry.restore([WorkerInfo(id="w1", url="http://127.0.0.1:9001", kinds=["noop"], capacity=2)])
    assert registry.get("w1").health_reason is not None
    hb = await registry.heartbeat(WorkerHeartbeat(id="w1"))
    assert hb.register_again and hb.health is WorkerHealth.HEALTHY and hb.health_reason is None
    await registry.register(reg("w1").model_copy(update={"secret": "s" * 20}))
    assert not (await registry.heartbeat(WorkerHeartbeat(id="w1"))).register_again


async def test_a_worker_refusing_our_credential_stays_unhealthy_until_it_registers(
    registry: Registry,
) -> None:
    await registry.register(reg("w1"))
    changed = registry.refuse("w1", "refuses the control plane's credential (401)")
    assert changed is not None and changed.health is WorkerHealth.UNHEALTHY
    assert registry.refuse("w1", "again") is None  # marked once: one event, one alert
    assert registry.candidates("noop", {}) == []
    hb = await registry.heartbeat(WorkerHeartbeat(id="w1"))
    assert hb.health is WorkerHealth.UNHEALTHY and "401" in (hb.health_reason or "")
    assert (await registry.register(reg("w1"))).health is WorkerHealth.HEALTHY
    assert [w.id for w in registry.candidates("noop", {})] == ["w1"]
