"""Exact per-endpoint accounting: recorded on each worker in fixed windows, merged on the master.

Workers record every request into the window of its completion time and ship
the closed windows with each Locust report; the master merges them by window
and endpoint. Merging is plain addition of counts, so the master's cumulative
histogram is exactly the union of every sample any worker recorded, and any
set of windows (the warm-up excluded, the last reporting interval) can be
re-merged later without loss.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TypedDict

from loadtest.stats import histogram
from loadtest.stats.artifact import EndpointStats, IntervalStats

INTERVAL_S = 1.0  # window length; 1 s makes warm-up exclusion exact to the second
REPORT_INTERVAL_S = 3.0  # Locust workers report every 3 s (locust.runners.WORKER_REPORT_INTERVAL)
AGGREGATE_NAME = "Aggregated"

EndpointKey = tuple[str, str]  # (method, name)


class WindowPayload(TypedDict):
    """What a worker sends per closed window (msgpack-friendly: no float dict keys)."""

    t: float
    endpoints: list[EndpointStats]


@dataclass
class EndpointAccum:
    method: str
    name: str
    num_requests: int = 0
    num_failures: int = 0
    histogram: dict[float, int] = field(default_factory=dict)
    total_response_time_ms: float = 0.0
    min_response_time_ms: float | None = None
    max_response_time_ms: float | None = None

    def add(self, response_time_ms: float | None, failed: bool) -> None:
        self.num_requests += 1
        if failed:
            self.num_failures += 1
        if response_time_ms is None:
            return
        key = histogram.bucket(response_time_ms)
        self.histogram[key] = self.histogram.get(key, 0) + 1
        self.total_response_time_ms += response_time_ms
        if self.min_response_time_ms is None or response_time_ms < self.min_response_time_ms:
            self.min_response_time_ms = response_time_ms
        if self.max_response_time_ms is None or response_time_ms > self.max_response_time_ms:
            self.max_response_time_ms = response_time_ms

    def merge(self, other: EndpointAccum) -> None:
        self.num_requests += other.num_requests
        self.num_failures += other.num_failures
        histogram.merge(self.histogram, other.histogram)
        self.total_response_time_ms += other.total_response_time_ms
        for attr, pick in (("min_response_time_ms", min), ("max_response_time_ms", max)):
            mine, theirs = getattr(self, attr), getattr(other, attr)
            if theirs is not None:
                setattr(self, attr, theirs if mine is None else pick(mine, theirs))

    def percentile(self, p: float) -> float | None:
        return histogram.percentile(self.histogram, p)

    def to_stats(self) -> EndpointStats:
        return EndpointStats(
            method=self.method,
            name=self.name,
            num_requests=self.num_requests,
            num_failures=self.num_failures,
            histogram=histogram.to_pairs(self.histogram),
            total_response_time_ms=self.total_response_time_ms,
            min_response_time_ms=self.min_response_time_ms,
            max_response_time_ms=self.max_response_time_ms,
        )

    @classmethod
    def from_stats(cls, stats: EndpointStats) -> EndpointAccum:
        return cls(
            method=stats["method"],
            name=stats["name"],
            num_requests=int(stats["num_requests"]),
            num_failures=int(stats["num_failures"]),
            histogram=histogram.from_pairs(stats["histogram"]),
            total_response_time_ms=float(stats["total_response_time_ms"]),
            min_response_time_ms=stats["min_response_time_ms"],
            max_response_time_ms=stats["max_response_time_ms"],
        )


def window_start(t: float, interval_s: float = INTERVAL_S) -> float:
    return math.floor(t / interval_s) * interval_s


def aggregate(accums: Iterable[EndpointAccum]) -> EndpointAccum:
    total = EndpointAccum(method="", name=AGGREGATE_NAME)
    for accum in accums:
        total.merge(accum)
    return total


class WindowRecorder:
    """Worker side: accumulates requests per (window, endpoint) until the next report drains them.

    Locust calls request listeners from gevent greenlets in one OS thread; the
    lock only guards against a report being drained from another thread.
    """

    def __init__(self, interval_s: float = INTERVAL_S) -> None:
        self.interval_s = interval_s
        self._windows: dict[float, dict[EndpointKey, EndpointAccum]] = {}
        self._lock = threading.Lock()

    def record(
        self, method: str, name: str, response_time_ms: float | None, failed: bool, now: float | None = None
    ) -> None:
        t = window_start(time.time() if now is None else now, self.interval_s)
        with self._lock:
            window = self._windows.setdefault(t, {})
            accum = window.get((method, name))
            if accum is None:
                accum = window[(method, name)] = EndpointAccum(method=method, name=name)
            accum.add(response_time_ms, failed)

    def drain(self) -> list[WindowPayload]:
        """Everything recorded so far, oldest window first; the recorder is empty afterwards."""
        with self._lock:
            windows, self._windows = self._windows, {}
        return [
            WindowPayload(t=t, endpoints=[a.to_stats() for a in windows[t].values()]) for t in sorted(windows)
        ]


class RunAggregate:
    """Master side: the exact merge of every worker's windows, by window and endpoint."""

    def __init__(self, interval_s: float = INTERVAL_S) -> None:
        self.interval_s = interval_s
        self.intervals: dict[float, dict[EndpointKey, EndpointAccum]] = {}
        self.cumulative: dict[EndpointKey, EndpointAccum] = {}
        self.interval_users: dict[float, int] = {}
        self._lock = threading.Lock()

    def add_windows(self, windows: Iterable[WindowPayload], users: int) -> None:
        with self._lock:
            for window in windows:
                t = float(window["t"])
                bucket = self.intervals.setdefault(t, {})
                self.interval_users[t] = users
                for stats in window["endpoints"]:
                    incoming = EndpointAccum.from_stats(stats)
                    key = (incoming.method, incoming.name)
                    for target in (bucket, self.cumulative):
                        if key not in target:
                            target[key] = EndpointAccum(method=incoming.method, name=incoming.name)
                        target[key].merge(incoming)

    def endpoints(self) -> list[EndpointAccum]:
        with self._lock:
            return [self.cumulative[k] for k in sorted(self.cumulative)]

    def total(self) -> EndpointAccum:
        return aggregate(self.endpoints())

    def recent(self, since: float) -> dict[EndpointKey, EndpointAccum]:
        """Merge of the windows starting at or after `since` (e.g. the last reporting interval)."""
        out: dict[EndpointKey, EndpointAccum] = {}
        with self._lock:
            for t, window in self.intervals.items():
                if t < since:
                    continue
                for key, accum in window.items():
                    if key not in out:
                        out[key] = EndpointAccum(method=accum.method, name=accum.name)
                    out[key].merge(accum)
        return out

    def interval_stats(self) -> list[IntervalStats]:
        with self._lock:
            return [
                IntervalStats(
                    t=t,
                    users=self.interval_users.get(t, 0),
                    endpoints=[self.intervals[t][k].to_stats() for k in sorted(self.intervals[t])],
                )
                for t in sorted(self.intervals)
            ]
