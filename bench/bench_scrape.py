"""How long one /metrics body takes to produce, at 500 endpoints versus 1, in one invocation.

The master builds every metric family at scrape time on its gevent loop, so
the scrape time is time the master spends on nothing else. Goal: < 100 ms at
500 endpoints. Workload: 300,000 requests over 60 one-second windows, traffic
Zipf-distributed over the endpoints (a few hot ones, a long tail), log-normal
response times with per-endpoint medians between 5 ms and 800 ms, 1 % failures.

Figures are CPU time of this process (time.process_time), so other load on a
shared machine does not inflate them. Three cases per endpoint count, median
of REPEATS scrapes each:
  live   - between scrapes, 2,000 new requests arrive (one 2-s scrape interval at 1,000 rps);
           live+gzip adds the compression Prometheus asks for: what a real scrape costs
  churn  - between scrapes, every endpoint gets new requests (nothing can be reused)
  idle   - nothing changed since the last scrape (the end of a run)
plus, for reference, prometheus_client's own generate_latest() on the same registry.

Run: .venv/bin/python bench/bench_scrape.py
"""

from __future__ import annotations

import gzip
import random
import statistics
import time
from collections.abc import Callable, Sequence

from prometheus_client import CollectorRegistry, generate_latest

from loadtest.metrics import collector, exposition
from loadtest.stats import histogram
from loadtest.stats.artifact import EndpointStats
from loadtest.stats.recording import RunAggregate, WindowPayload

TOTAL_REQUESTS = 300_000
WINDOWS = 60
LIVE_REQUESTS = 2_000
REPEATS = 7
SEED = 20240601


class BenchSource:
    """A MetricsSource over a prepared RunAggregate, with a few workers and a verdict."""

    def __init__(self, aggregate: RunAggregate, now: float) -> None:
        self.aggregate = aggregate
        self.info = collector.RunInfo("bench", "bench", "http://127.0.0.1", 1000, "0000000")
        self.report_window_s = 3.0
        self.now = now

    def runner_state(self) -> str:
        return "running"

    def user_count(self) -> int:
        return 1000

    def target_user_count(self) -> int:
        return 1000

    def workers(self) -> Sequence[collector.WorkerView]:
        return [collector.WorkerView(f"worker-{i}", "running", 55.0, 120_000_000, 250, 4.0) for i in range(4)]

    def verdict(self) -> str | None:
        return None

    def sla_limits(self) -> Sequence[collector.SlaLimit]:
        return [collector.SlaLimit("Aggregated", "p95", 0.5), collector.SlaLimit("Aggregated", "error_ratio", 0.01)]


class Workload:
    def __init__(self, endpoints: int, rng: random.Random) -> None:
        self.names = [f"/api/v1/resource{i}/{{id}}" for i in range(endpoints)]
        self.weights = [1.0 / (rank + 1) for rank in range(endpoints)]  # Zipf, s = 1
        self.shape = [(rng.uniform(1.6, 6.7), rng.uniform(0.5, 1.0)) for _ in range(endpoints)]  # ln(ms)
        self.rng = rng

    def window(self, t: float, requests: int, every_endpoint: bool = False) -> WindowPayload:
        picks = (
            list(range(len(self.names))) * max(1, requests // len(self.names))
            if every_endpoint
            else self.rng.choices(range(len(self.names)), self.weights, k=requests)
        )
        hists: dict[int, dict[float, int]] = {}
        totals: dict[int, list[float]] = {}
        for i in picks:
            mu, sigma = self.shape[i]
            ms = self.rng.lognormvariate(mu, sigma)
            h = hists.setdefault(i, {})
            key = histogram.bucket(ms)
            h[key] = h.get(key, 0) + 1
            acc = totals.setdefault(i, [0.0, 0.0, 0.0])
            acc[0] += 1
            acc[1] += self.rng.random() < 0.01
            acc[2] += ms
        endpoints = [
            EndpointStats(
                method="GET",
                name=self.names[i],
                num_requests=int(totals[i][0]),
                num_failures=int(totals[i][1]),
                histogram=histogram.to_pairs(h),
                total_response_time_ms=totals[i][2],
                min_response_time_ms=min(h),
                max_response_time_ms=max(h),
            )
            for i, h in hists.items()
        ]
        return WindowPayload(t=t, endpoints=endpoints)


def timed(fn: Callable[[], object], before: Callable[[], None]) -> float:
    samples = []
    for _ in range(REPEATS):
        before()
        start = time.process_time()
        fn()
        samples.append(time.process_time() - start)
    return statistics.median(samples)


def measure(endpoints: int) -> dict[str, float]:
    rng = random.Random(SEED)
    work = Workload(endpoints, rng)
    now = 1_700_000_000.0
    aggregate = RunAggregate()
    for w in range(WINDOWS):
        aggregate.add_windows([work.window(now - WINDOWS + w, TOTAL_REQUESTS // WINDOWS)], users=1000)
    source = BenchSource(aggregate, now)
    registry = CollectorRegistry()
    scraped = collector.LoadtestCollector(source, max_endpoints=max(endpoints, 1), clock=lambda: source.now)
    registry.register(scraped)
    body = exposition.encode_text(registry)  # first scrape admits every endpoint

    def advance(requests: int, every_endpoint: bool = False) -> Callable[[], None]:
        def step() -> None:
            source.now += 2.0
            aggregate.add_windows([work.window(source.now - 1, requests, every_endpoint)], users=1000)

        return step

    def scrape() -> bytes:
        return exposition.encode_text(registry)

    keys = sum(len(a.histogram) for a in aggregate.endpoints())
    return {
        "live": timed(scrape, advance(LIVE_REQUESTS)),
        "live+gzip": timed(lambda: gzip.compress(scrape(), exposition.GZIP_LEVEL), advance(LIVE_REQUESTS)),
        "churn": timed(scrape, advance(endpoints * 4, every_endpoint=True)),
        "idle": timed(scrape, lambda: None),
        "gzip": timed(lambda: gzip.compress(body, exposition.GZIP_LEVEL), lambda: None),
        "prometheus_client": timed(lambda: generate_latest(registry), lambda: None),
        "bytes": float(len(body)),
        "samples": float(body.count(b"\n") - body.count(b"# ")),
        "keys_per_endpoint": keys / endpoints,
    }


def main() -> None:
    base = measure(1)
    big = measure(500)
    print(
        f"bench_scrape: {TOTAL_REQUESTS} requests over {WINDOWS} s windows, "
        f"CPU ms per /metrics body, median of {REPEATS} scrapes"
    )
    print(f"{'case':<22}{'1 endpoint':>14}{'500 endpoints':>16}{'ratio':>9}")
    for case in ("live", "live+gzip", "churn", "idle", "gzip", "prometheus_client"):
        print(f"{case + ' (ms)':<22}{base[case] * 1000:>14.2f}{big[case] * 1000:>16.2f}{big[case] / base[case]:>9.0f}")
    for case in ("samples", "bytes", "keys_per_endpoint"):
        print(f"{case:<22}{base[case]:>14.0f}{big[case]:>16.0f}")
    verdict = "meets" if big["live+gzip"] < 0.1 else "misses"
    print(f"500-endpoint live scrape incl. gzip {big['live+gzip'] * 1000:.1f} ms {verdict} the 100 ms goal")


if __name__ == "__main__":
    main()
