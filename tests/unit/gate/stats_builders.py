"""Hand-built stats artifacts for the gate tests: exact values in, exact histograms out."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from loadtest.gate.sla import Sla, parse
from loadtest.gate.verdict import Check
from loadtest.stats import histogram
from loadtest.stats.artifact import (
    STATS_SCHEMA_V1,
    EndpointStats,
    IntervalStats,
    RunEvent,
    StatsArtifact,
    WorkerSample,
    WorkerStats,
)
from loadtest.stats.recording import EndpointAccum, aggregate

T0 = 1_700_000_000.0  # a whole second, so interval boundaries are easy to read


def endpoint(name: str, values_ms: Iterable[float], failures: int = 0, method: str = "GET") -> EndpointStats:
    """One endpoint's stats from raw response times; the first `failures` requests failed."""
    accum = EndpointAccum(method=method, name=name)
    for i, value in enumerate(values_ms):
        accum.add(value, failed=i < failures)
    return accum.to_stats()


def from_histogram(name: str, counts: dict[float, int], failures: int = 0, method: str = "GET") -> EndpointStats:
    """Stats from an already-bucketed histogram (keys must be bucket values)."""
    for key in counts:
        assert histogram.bucket(key) == key, f"{key} is not a bucket value"
    values = [key for key, n in sorted(counts.items()) for _ in range(n)]
    return endpoint(name, values, failures, method)


def worker(
    wid: str,
    cpu: Sequence[float],
    lag: Sequence[float] | None = None,
    *,
    t0: float = T0,
    lost: bool = False,
    runqueue: Sequence[float] | None = None,
    every: float = 3.0,
    connections: Sequence[int] | None = None,
    lost_at: float | None = None,
) -> WorkerStats:
    lags = lag if lag is not None else [1.0] * len(cpu)
    waits = runqueue if runqueue is not None else [2.0] * len(cpu)
    conns = connections if connections is not None else [0] * len(cpu)
    samples = [
        WorkerSample(
            t=t0 + every * (i + 1), cpu_percent=c, loop_lag_ms=g, loop_lag_max_ms=g, runqueue_wait_percent=w, users=10,
            connections=n,
        )
        for i, (c, g, w, n) in enumerate(zip(cpu, lags, waits, conns, strict=True))
    ]  # fmt: skip
    return WorkerStats(id=wid, index=0, state="stopped", lost=lost or lost_at is not None, lost_at=lost_at,
                       resumed_at=None, num_requests=100, samples=samples)  # fmt: skip


def artifact(
    intervals: dict[float, list[EndpointStats]],
    *,
    started_at: float | None = T0,
    spawn_complete_at: float | None = T0,
    ended_at: float | None = None,
    workers: list[WorkerStats] | None = None,
    events: list[RunEvent] | None = None,
    complete: bool = True,
    planned_rps: float | None = None,
    worker_count_expected: int = 1,
) -> StatsArtifact:
    """A consistent artifact: cumulative endpoints are the exact merge of the intervals."""
    cumulative: dict[tuple[str, str], EndpointAccum] = {}
    interval_stats: list[IntervalStats] = []
    for t in sorted(intervals):
        interval_stats.append(IntervalStats(t=t, users=10, endpoints=intervals[t]))
        for stats in intervals[t]:
            key = (stats["method"], stats["name"])
            cumulative.setdefault(key, EndpointAccum(method=key[0], name=key[1]))
            cumulative[key].merge(EndpointAccum.from_stats(stats))
    last = max(intervals, default=T0)
    return StatsArtifact(
        schema=STATS_SCHEMA_V1,
        run_id="r-test",
        scenario="unit",
        host="http://127.0.0.1:1",
        bucket_scheme=histogram.BUCKET_SCHEME,
        interval_s=1.0,
        started_at=started_at,
        spawn_complete_at=spawn_complete_at,
        ended_at=ended_at if ended_at is not None else last + 1.0,
        target_users=10,
        planned_rps=planned_rps,
        worker_count_expected=worker_count_expected,
        complete=complete,
        endpoints=[cumulative[k].to_stats() for k in sorted(cumulative)],
        aggregate=aggregate(cumulative.values()).to_stats(),
        intervals=interval_stats,
        errors=[],
        workers=workers if workers is not None else [worker("w1", [20.0, 25.0, 22.0])],
        events=events or [],
        locust_totals={},
    )


def sla(yaml_like: Mapping[str, Any]) -> Sla:
    return parse({"version": 1, **yaml_like}, "sla.yaml")


def only(checks: Iterable[Check], metric: str, subject: str | None = None) -> Check:
    """The single check with this metric (and subject); fails the test if not exactly one."""
    found = [c for c in checks if c.metric == metric and (subject is None or c.subject == subject)]
    assert len(found) == 1, f"expected one {metric} check, got {found}"
    return found[0]
