"""One circuit breaker per worker: pybreaker's state machine, driven around an ``await``.

pybreaker only guards synchronous calls (its async path needs tornado), so the client asks
this wrapper for admission before the network call and reports the outcome afterwards; the
outcome is replayed through ``CircuitBreaker.call`` so pybreaker still counts failures,
opens, and closes after a successful half-open trial. The wrapper adds what pybreaker cannot
know across an ``await``: the open state rejects at once until the reset timeout, then lets
exactly one trial call through while the others keep failing fast.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, Literal, cast

import pybreaker

from agency.errors import AgencyError, CircuitOpen
from agency.fleet.translate import is_breaker_failure

log = logging.getLogger("agency.fleet")

BreakerState = Literal["closed", "open", "half-open"]


class _StateLogger(pybreaker.CircuitBreakerListener):
    """Logs every state change and remembers when the breaker opened."""

    def __init__(self, owner: WorkerBreaker) -> None:
        self._owner = owner

    def state_change(
        self,
        cb: pybreaker.CircuitBreaker,
        old_state: pybreaker.CircuitBreakerState | None,
        new_state: pybreaker.CircuitBreakerState,
    ) -> None:
        self._owner._changed(old_state.name if old_state else None, new_state.name)


class WorkerBreaker:
    """Circuit breaker of one worker; ``admit`` before a call, ``record`` after it."""

    def __init__(
        self,
        worker_id: str,
        url: str,
        *,
        fail_max: int,
        reset_timeout: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.worker_id = worker_id
        self.url = url
        self._clock = clock
        self._opened_at: float | None = None
        self._trial_running = False
        self._cb = pybreaker.CircuitBreaker(
            fail_max=fail_max,
            reset_timeout=reset_timeout,
            exclude=[lambda exc: not is_breaker_failure(exc)],
            listeners=[_StateLogger(self)],
            name=worker_id,
            throw_new_error_on_trip=False,
        )

    @property
    def state(self) -> BreakerState:
        return cast(BreakerState, self._cb.current_state)

    @property
    def failures(self) -> int:
        """Consecutive failures counted by pybreaker (reset by a success)."""
        return self._cb.fail_counter

    @property
    def reset_timeout(self) -> float:
        return float(self._cb.reset_timeout)

    def _reset_elapsed(self) -> bool:
        return self._opened_at is None or self._clock() - self._opened_at >= self._cb.reset_timeout

    @property
    def available(self) -> bool:
        """Whether a call now would be let through (closed, or ready for a trial)."""
        state = self.state
        if state == "closed":
            return True
        if state == "open":
            return self._reset_elapsed()
        return not self._trial_running

    def admit(self) -> bool:
        """Let a call through or raise ``CircuitOpen``; True when the call is the trial."""
        state = self.state
        if state == "closed":
            return False
        if state == "open" and self._reset_elapsed():
            self._cb.half_open()
            state = self.state
        if state == "half-open" and not self._trial_running:
            self._trial_running = True
            return True
        retry_in = 0.0
        if self._opened_at is not None:
            retry_in = max(0.0, self._cb.reset_timeout - (self._clock() - self._opened_at))
        raise CircuitOpen(
            f"circuit breaker of worker {self.worker_id} is {state}; call refused",
            details={
                "worker": self.worker_id,
                "url": self.url,
                "breaker": state,
                "retry_in": round(retry_in, 3),
            },
        )

    def record(self, error: AgencyError | None, *, trial: bool) -> None:
        """Count one whole (retried) call: a success, or a failure unless 4xx/draining."""
        if trial:
            self._trial_running = False

        def outcome() -> None:
            if error is not None:
                raise error

        try:
            self._cb.call(outcome)
        except (AgencyError, pybreaker.CircuitBreakerError):
            # the replayed error, or the breaker already open from a concurrent call:
            # the caller raises the real outcome, this only feeds the state machine
            return

    def abandon(self, *, trial: bool) -> None:
        """A call that was canceled before it had an outcome: free the trial slot only."""
        if trial:
            self._trial_running = False

    def _changed(self, old: str | None, new: str) -> None:
        if new == "open":
            self._opened_at = self._clock()
        log.warning(
            "breaker worker=%s url=%s %s -> %s failures=%d",
            self.worker_id,
            self.url,
            old,
            new,
            self._cb.fail_counter,
            extra={
                "worker": self.worker_id,
                "url": self.url,
                "breaker_from": old,
                "breaker_to": new,
            },
        )

    def snapshot(self) -> dict[str, Any]:
        return {"state": self.state, "failures": self.failures}
