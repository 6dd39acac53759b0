"""A hand-built MetricsSource for the exporter's tests: every field settable, time injectable."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from loadtest.metrics.collector import RunInfo, SlaLimit, WorkerView
from loadtest.stats import histogram
from loadtest.stats.artifact import EndpointStats
from loadtest.stats.recording import RunAggregate, WindowPayload

NOW = 1_700_000_100.0  # the fake clock; windows are placed relative to it


@dataclass
class FakeSource:
    info: RunInfo = field(default_factory=lambda: RunInfo("run-1", "demo", "http://127.0.0.1:1", 10, "abc1234"))
    aggregate: RunAggregate = field(default_factory=RunAggregate)
    report_window_s: float = 3.0
    state: str = "running"
    users: int = 10
    target_users: int = 10
    worker_views: list[WorkerView] = field(default_factory=list)
    gate_verdict: str | None = None
    limits: list[SlaLimit] = field(default_factory=list)

    def runner_state(self) -> str:
        return self.state

    def user_count(self) -> int:
        return self.users

    def target_user_count(self) -> int:
        return self.target_users

    def workers(self) -> Sequence[WorkerView]:
        return self.worker_views

    def verdict(self) -> str | None:
        return self.gate_verdict

    def sla_limits(self) -> Sequence[SlaLimit]:
        return self.limits


def stats(method: str, name: str, times_ms: Sequence[float], failures: int = 0) -> EndpointStats:
    """Endpoint stats for exactly these response times (bucketed like a worker would)."""
    hist: dict[float, int] = {}
    for t in times_ms:
        key = histogram.bucket(t)
        hist[key] = hist.get(key, 0) + 1
    return EndpointStats(
        method=method,
        name=name,
        num_requests=len(times_ms),
        num_failures=failures,
        histogram=histogram.to_pairs(hist),
        total_response_time_ms=float(sum(times_ms)),
        min_response_time_ms=min(times_ms) if times_ms else None,
        max_response_time_ms=max(times_ms) if times_ms else None,
    )


def add(aggregate: RunAggregate, t: float, *endpoints: EndpointStats) -> None:
    aggregate.add_windows([WindowPayload(t=t, endpoints=list(endpoints))], users=10)
