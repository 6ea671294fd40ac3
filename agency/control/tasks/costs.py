"""Cost and token KPIs of agent runs: rolling per minute, hour and day, by model, label and
worker, and their Prometheus counters (``agency_agent_tokens_total``,
``agency_agent_cost_usd_total``, ``agency_agent_runs_total``).

A run counts when its attempt ends (its usage is final then). The last day of runs is kept
in memory, loaded from ``agent_runs`` at start-up, so a snapshot never reads the database.
"""

from __future__ import annotations

from collections import deque
from datetime import timedelta
from typing import Any

from prometheus_client import CollectorRegistry, Counter

from agency.models import utcnow
from agency.models.runs import AgentRun

COST_WINDOWS = {
    "minute": timedelta(minutes=1),
    "hour": timedelta(hours=1),
    "day": timedelta(days=1),
}
_TOKEN_KINDS = ("input", "output", "cache_read", "cache_write")


def _tokens(run: AgentRun) -> dict[str, int]:
    return {
        "input": run.input_tokens,
        "output": run.output_tokens,
        "cache_read": run.cache_read_tokens,
        "cache_write": run.cache_write_tokens,
    }


class CostKpis:
    """The last day of finished agent runs, summed on demand."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.runs: deque[AgentRun] = deque()
        self.tokens = Counter(
            "agency_agent_tokens",
            "Tokens agent runs used, by model and kind.",
            ["model", "kind"],
            registry=registry,
        )
        self.cost = Counter(
            "agency_agent_cost_usd", "USD agent runs cost, by model.", ["model"], registry=registry
        )
        self.count = Counter(
            "agency_agent_runs", "Finished agent attempts, by model.", ["model"], registry=registry
        )

    def load(self, runs: list[AgentRun]) -> None:
        """The runs of the last day (after a restart); counters start again from zero."""
        self.runs.extend(sorted(runs, key=lambda r: r.finished_at))

    def record(self, run: AgentRun) -> None:
        model = run.model or "unknown"
        for kind, n in _tokens(run).items():
            if n:
                self.tokens.labels(model=model, kind=kind).inc(n)
        self.cost.labels(model=model).inc(run.cost_usd)
        self.count.labels(model=model).inc()
        self.runs.append(run)

    def snapshot(self) -> dict[str, Any]:
        """Totals per window, and the day's by model, label (``key=value``) and worker."""
        now = utcnow()
        while self.runs and self.runs[0].finished_at < now - COST_WINDOWS["day"]:
            self.runs.popleft()
        out: dict[str, Any] = {}
        for name, span in COST_WINDOWS.items():
            out[name] = _sum(r for r in self.runs if r.finished_at >= now - span)
        by: dict[str, dict[str, list[AgentRun]]] = {"model": {}, "label": {}, "worker": {}}
        for run in self.runs:
            by["model"].setdefault(run.model or "unknown", []).append(run)
            by["worker"].setdefault(run.worker_id or "unknown", []).append(run)
            for k, v in run.labels.items():
                by["label"].setdefault(f"{k}={v}", []).append(run)
        for dim, groups in by.items():
            out[f"by_{dim}"] = {key: _sum(runs) for key, runs in sorted(groups.items())}
        return out


def _sum(runs: Any) -> dict[str, float]:
    total: dict[str, float] = {"runs": 0, "cost_usd": 0.0, "turns": 0}
    total.update({f"{k}_tokens": 0 for k in _TOKEN_KINDS})
    for run in runs:
        total["runs"] += 1
        total["cost_usd"] += run.cost_usd
        total["turns"] += run.turns
        for kind, n in _tokens(run).items():
            total[f"{kind}_tokens"] += n
    total["cost_usd"] = round(total["cost_usd"], 8)
    return total
