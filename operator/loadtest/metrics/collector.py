"""Prometheus metrics for a run, built at scrape time from the master's exact merged stats.

The collector reads a small `MetricsSource` (implemented by the master plugin)
and builds every metric family anew on each scrape, so Prometheus always sees
the master's current `RunAggregate`: counters equal the stats artifact exactly,
percentile gauges are the exact nearest-rank percentiles of the merged
3-significant-digit histograms, and the `_seconds` histogram is that same
histogram re-bucketed onto fixed Prometheus buckets.

Conventions (see docs/metrics.md for every metric):
- every series carries `run_id` and `scenario`;
- a percentile with no sample is absent, never 0: an empty run exports request
  counters of 0 and no latency at all;
- at most `max_endpoints` (method, name) pairs get their own series; later ones
  are folded into one `method="", name="__other__"` series and counted in
  `loadtest_endpoints_folded`. An endpoint keeps the series it got first for
  the whole run, so counters never move between series.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from loadtest.core.errors import SpecError
from loadtest.metrics.buckets import Digest, LiveDigest, union_percentiles
from loadtest.metrics.exposition import HistogramSeries, MetricsServer, RowFamily, serve
from loadtest.stats.recording import AGGREGATE_NAME, EndpointAccum, EndpointKey, RunAggregate

__all__ = [
    "LoadtestCollector",
    "MetricsServer",
    "MetricsSource",
    "RunInfo",
    "SlaLimit",
    "WorkerView",
    "register",
    "serve",
]

PREFIX = "loadtest"
BASE_LABELS = ("run_id", "scenario")  # on every series
DEFAULT_MAX_ENDPOINTS = 200  # ~90 series per endpoint: 200 endpoints stay under 20k series per run
OTHER_NAME = "__other__"  # the one series endpoints beyond the cap are folded into
PERCENTILES: tuple[tuple[str, float], ...] = (("50", 0.50), ("90", 0.90), ("95", 0.95), ("99", 0.99))
WORKER_STATES = ("ready", "spawning", "running", "missing", "stopped")  # always emitted, 0 when none
RUN_STATES = ("ready", "spawning", "running", "cleanup", "stopping", "stopped", "missing")  # Locust's
VERDICTS = ("PASS", "FAIL", "INCONCLUSIVE")
SLA_PERCENTILES = {"p50": "50", "p90": "90", "p95": "95", "p99": "99", "max": "100"}
# "last" percentiles merge the windows of this many report intervals: one interval of
# samples plus one interval for the workers' reports to reach the master.
LAST_WINDOW_REPORTS = 2


@dataclass(frozen=True)
class RunInfo:
    """What identifies the run; constant for its whole life."""

    run_id: str
    scenario: str
    host: str
    target_users: int  # users planned at start (the live target is MetricsSource.target_user_count)
    git_revision: str  # short commit of the locustfiles' repository, "" when unknown


@dataclass(frozen=True)
class WorkerView:
    """One worker as the master last saw it (Locust's runner.clients entry plus our lag probe)."""

    id: str  # Locust's client id
    state: str  # ready | spawning | running | missing | stopped (others are exported as they come)
    cpu_percent: float  # process CPU as Locust reports it: 100 = one core
    memory_bytes: int  # resident set size
    users: int  # users running on this worker
    loop_lag_ms: float | None  # gevent loop lag over the last report (the p90 of its probes); None: not yet
    connections: int = 0  # WebSocket connections open on it (loadtest.locust.websocket), as of its last report


@dataclass(frozen=True)
class SlaLimit:
    """One SLA threshold, exported so alerting rules compare live values to the gate's limits."""

    name: str  # exact endpoint name, or "Aggregated"; resolve SLA-file patterns before handing over
    metric: str  # "p50" | "p90" | "p95" | "p99" | "max" (value in seconds) or "error_ratio" (0..1)
    value: float


class MetricsSource(Protocol):
    """The narrow view of the Locust master the collector reads, once per scrape.

    Every member is read at scrape time from the scrape's thread (a greenlet
    under gevent); none may block.
    """

    @property
    def info(self) -> RunInfo:
        """Run identity; also the `run_id` and `scenario` labels of every series."""

    @property
    def aggregate(self) -> RunAggregate:
        """The master's exact merge of every worker's windows (the stats artifact's source)."""

    @property
    def report_window_s(self) -> float:
        """Seconds between worker reports (Locust's heartbeat/report interval, 3 s by default)."""

    def runner_state(self) -> str:
        """Master runner state: ready | spawning | running | cleanup | stopping | stopped | missing."""

    def user_count(self) -> int:
        """Users running across all workers now."""

    def target_user_count(self) -> int:
        """Users the master is currently asking for (changes under a load shape)."""

    def workers(self) -> Sequence[WorkerView]:
        """Every worker the master knows, including missing ones."""

    def verdict(self) -> str | None:
        """The SLA gate's verdict (PASS | FAIL | INCONCLUSIVE) once it has run, else None."""

    def sla_limits(self) -> Sequence[SlaLimit]:
        """SLA thresholds to export as limit gauges; empty when the run has no SLA file."""


def _merge_into(target: EndpointAccum | None, accum: EndpointAccum, key: EndpointKey) -> EndpointAccum:
    if target is None:
        target = EndpointAccum(method=key[0], name=key[1])
    target.merge(accum)
    return target


class LoadtestCollector(Collector):
    """Builds the run's metric families from a MetricsSource on every scrape."""

    def __init__(
        self,
        source: MetricsSource,
        *,
        max_endpoints: int = DEFAULT_MAX_ENDPOINTS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if max_endpoints < 1:
            raise SpecError(
                f"max_endpoints is {max_endpoints}, must be at least 1",
                hint="raise the endpoint cap; overflow endpoints are folded into name='__other__'",
            )
        self._source = source
        self._max_endpoints = max_endpoints
        self._clock = clock
        self._admitted: set[EndpointKey] = set()
        self._folded: set[EndpointKey] = set()
        self._cache: dict[EndpointKey, tuple[tuple[int, int, tuple[str, ...]], Digest, HistogramSeries]] = {}
        self._lock = threading.Lock()  # scrapes may overlap on a threaded server

    def _route(self, keys: Iterable[EndpointKey]) -> dict[EndpointKey, EndpointKey]:
        """Series key for each endpoint key: itself, or the overflow key. Admission is sticky."""
        other: EndpointKey = ("", OTHER_NAME)
        routes: dict[EndpointKey, EndpointKey] = {}
        with self._lock:
            for key in sorted(keys):
                if key not in self._admitted and key not in self._folded:
                    if len(self._admitted) < self._max_endpoints:
                        self._admitted.add(key)
                    else:
                        self._folded.add(key)
                routes[key] = key if key in self._admitted else other
        return routes

    def _series(self, accums: Mapping[EndpointKey, EndpointAccum]) -> dict[EndpointKey, EndpointAccum]:
        routes = self._route(accums)
        out: dict[EndpointKey, EndpointAccum] = {}
        for key, accum in accums.items():
            series = routes[key]
            if series == key:
                out[key] = accum
            else:
                out[series] = _merge_into(out.get(series), accum, series)
        return out

    def _cumulative(
        self, values: tuple[str, ...], key: EndpointKey, accum: EndpointAccum
    ) -> tuple[Digest, HistogramSeries]:
        """Digest and histogram series of a cumulative series, reused while it has not changed."""
        version = (accum.num_requests, len(accum.histogram), values)
        cached = self._cache.get(key)
        if cached is None or cached[0] != version:
            digest = LiveDigest(accum)
            series = HistogramSeries(values, digest.bucket_counts(), accum.total_response_time_ms / 1000.0)
            cached = self._cache[key] = (version, digest, series)
        return cached[1], cached[2]

    def collect(self) -> Iterator[Metric]:
        src = self._source
        info = src.info
        base = (info.run_id, info.scenario)
        cumulative = self._series({(a.method, a.name): a for a in src.aggregate.endpoints()})
        since = self._clock() - LAST_WINDOW_REPORTS * src.report_window_s
        last = self._series(src.aggregate.recent(since))

        ep_labels = (*BASE_LABELS, "method", "name")
        requests = RowFamily(f"{PREFIX}_requests", "Requests completed, failures included.", "counter", ep_labels)
        failures = RowFamily(f"{PREFIX}_request_failures", "Requests that failed.", "counter", ep_labels)
        times = RowFamily(
            f"{PREFIX}_response_time_seconds",
            "Response times, re-bucketed from the exact histogram; _sum is the exact total.",
            "histogram",
            ep_labels,
        )
        digests: dict[EndpointKey, Digest] = {}
        for key, accum in sorted(cumulative.items()):
            values = (*base, *key)
            requests.add(values, accum.num_requests)
            failures.add(values, accum.num_failures)
            digests[key], series = self._cumulative(values, key, accum)
            times.add_histogram(series)
        yield requests
        yield failures
        yield times
        # every endpoint's samples are in the master's running total: its percentiles are the union's
        total = LiveDigest(src.aggregate.total())
        yield self._percentiles(base, digests, {k: Digest(a.histogram) for k, a in last.items()}, total)
        yield from self._cardinality(base)
        yield from self._run(base, info)
        yield from self._workers(base)
        yield from self._sla(base)

    @staticmethod
    def _percentiles(
        base: tuple[str, str],
        cumulative: Mapping[EndpointKey, Digest],
        last: Mapping[EndpointKey, Digest],
        total: Digest | None = None,
    ) -> RowFamily:
        family = RowFamily(
            f"{PREFIX}_response_time_percentile_seconds",
            "Exact nearest-rank response-time percentile over the run (window=cumulative) or the "
            "last report intervals (window=last); absent when there is no sample.",
            "gauge",
            ("run_id", "scenario", "method", "name", "percentile", "window"),
        )
        ps = [p for _, p in PERCENTILES]
        labels = [label for label, _ in PERCENTILES]
        for window, digests in (("cumulative", cumulative), ("last", last)):
            rows = [(key, d.percentiles(ps)) for key, d in sorted(digests.items())]
            if window == "cumulative" and total is not None:
                rows.append((("", AGGREGATE_NAME), total.percentiles(ps)))
            else:
                rows.append((("", AGGREGATE_NAME), union_percentiles(list(digests.values()), ps)))
            for (method, name), values in rows:
                for label, value in zip(labels, values, strict=True):
                    if value is not None:
                        family.add((*base, method, name, label, window), value / 1000.0)
        return family

    def _cardinality(self, base: tuple[str, str]) -> Iterator[Metric]:
        with self._lock:
            folded = len(self._folded)
        values = list(base)
        family = GaugeMetricFamily(
            f"{PREFIX}_endpoints_folded",
            f"Distinct (method, name) pairs beyond the endpoint cap, folded into name={OTHER_NAME!r}.",
            labels=list(BASE_LABELS),
        )
        family.add_metric(values, folded)
        yield family
        family = GaugeMetricFamily(
            f"{PREFIX}_endpoint_limit",
            "Endpoints that get their own series (the cap).",
            labels=list(BASE_LABELS),
        )
        family.add_metric(values, self._max_endpoints)
        yield family

    def _run(self, base: tuple[str, str], info: RunInfo) -> Iterator[Metric]:
        src = self._source
        labels = list(BASE_LABELS)
        values = list(base)
        run_info = InfoMetricFamily(f"{PREFIX}_run", "Run identity; value is always 1.", labels=labels)
        run_info.add_metric(
            values,
            {"host": info.host, "target_users": str(info.target_users), "git_revision": info.git_revision},
        )
        yield run_info
        state = src.runner_state()
        states = GaugeMetricFamily(
            f"{PREFIX}_run_state",
            "1 for the master's current runner state, 0 for the others.",
            labels=[*labels, "state"],
        )
        for name in (*RUN_STATES, *([state] if state not in RUN_STATES else [])):
            states.add_metric([*values, name], 1.0 if name == state else 0.0)
        yield states
        users = GaugeMetricFamily(f"{PREFIX}_users", "Users running across all workers.", labels=labels)
        users.add_metric(values, src.user_count())
        yield users
        target = GaugeMetricFamily(f"{PREFIX}_target_users", "Users the master is asking for now.", labels=labels)
        target.add_metric(values, src.target_user_count())
        yield target

    def _workers(self, base: tuple[str, str]) -> Iterator[Metric]:
        labels = list(BASE_LABELS)
        values = list(base)
        workers = list(self._source.workers())
        by_state = GaugeMetricFamily(
            f"{PREFIX}_workers", "Workers known to the master, by state.", labels=[*labels, "state"]
        )
        counts = dict.fromkeys(WORKER_STATES, 0)
        for worker in workers:
            counts[worker.state] = counts.get(worker.state, 0) + 1
        for state, n in counts.items():
            by_state.add_metric([*values, state], n)
        yield by_state
        wl = [*labels, "worker"]
        cpu = GaugeMetricFamily(f"{PREFIX}_worker_cpu_usage_ratio", "Worker process CPU, 1 = one core.", labels=wl)
        memory = GaugeMetricFamily(f"{PREFIX}_worker_memory_bytes", "Worker resident memory.", labels=wl)
        users = GaugeMetricFamily(f"{PREFIX}_worker_users", "Users running on the worker.", labels=wl)
        connections = GaugeMetricFamily(
            f"{PREFIX}_worker_websocket_connections", "WebSocket connections open on the worker.", labels=wl
        )
        lag = GaugeMetricFamily(
            f"{PREFIX}_worker_loop_lag_seconds", "Event-loop lag over the last report (p90 of the probes).", labels=wl
        )
        for worker in sorted(workers, key=lambda w: w.id):
            wv = [*values, worker.id]
            cpu.add_metric(wv, worker.cpu_percent / 100.0)
            memory.add_metric(wv, worker.memory_bytes)
            users.add_metric(wv, worker.users)
            connections.add_metric(wv, worker.connections)
            if worker.loop_lag_ms is not None:
                lag.add_metric(wv, worker.loop_lag_ms / 1000.0)
        yield from (cpu, memory, users, connections, lag)

    def _sla(self, base: tuple[str, str]) -> Iterator[Metric]:
        labels = list(BASE_LABELS)
        values = list(base)
        verdict = self._source.verdict()
        if verdict is not None:
            family = GaugeMetricFamily(
                f"{PREFIX}_sla_verdict",
                "1 for the gate's verdict, 0 for the others; absent until it ran.",
                labels=[*labels, "verdict"],
            )
            for name in (*VERDICTS, *([verdict] if verdict not in VERDICTS else [])):
                family.add_metric([*values, name], 1.0 if name == verdict else 0.0)
            yield family
        latency = GaugeMetricFamily(
            f"{PREFIX}_sla_response_time_limit_seconds",
            "SLA limit on a response-time percentile (percentile=100 is the max).",
            labels=[*labels, "name", "percentile"],
        )
        errors = GaugeMetricFamily(
            f"{PREFIX}_sla_error_ratio_limit", "SLA limit on failures / requests.", labels=[*labels, "name"]
        )
        for limit in self._source.sla_limits():
            if limit.metric == "error_ratio":
                errors.add_metric([*values, limit.name], limit.value)
            elif limit.metric in SLA_PERCENTILES:
                latency.add_metric([*values, limit.name, SLA_PERCENTILES[limit.metric]], limit.value)
            else:
                raise SpecError(
                    f"SLA limit metric is {limit.metric!r} for endpoint {limit.name!r}",
                    hint=f"use one of {', '.join([*SLA_PERCENTILES, 'error_ratio'])}",
                )
        yield latency
        yield errors


def register(
    registry: CollectorRegistry, source: MetricsSource, *, max_endpoints: int = DEFAULT_MAX_ENDPOINTS
) -> LoadtestCollector:
    """Create the collector for `source` and register it on `registry` (never the global one)."""
    collector = LoadtestCollector(source, max_endpoints=max_endpoints)
    registry.register(collector)
    return collector
