"""Exact per-endpoint accounting: recorded on each worker in fixed windows, merged on the master.

Workers record every request into the window of its completion time and ship
the closed windows with each Locust report; the master merges them by window
and endpoint. Merging is plain addition of counts, so the master's cumulative
histogram is exactly the union of every sample any worker recorded, and any
set of windows (the warm-up excluded, the last reporting interval) can be
re-merged later without loss.
"""

from __future__ import annotations

import bisect
import dataclasses
import itertools
import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypedDict

from loadtest.stats import histogram
from loadtest.stats.artifact import EndpointStats, IntervalStats

INTERVAL_S = 1.0  # window length; 1 s makes warm-up exclusion exact to the second
REPORT_INTERVAL_S = 3.0  # Locust workers report every 3 s (locust.runners.WORKER_REPORT_INTERVAL)
AGGREGATE_NAME = "Aggregated"
# The request types of WebSocket sessions (loadtest.locust.websocket): connects, calls, pushes and
# unexpected closes. Their rows are kept, judged and exported like any endpoint's, but they stay out
# of the Aggregated row, its throughput and error rate: a push latency is not an HTTP response time.
WS_CONNECT, WS_CALL, WS_PUSH, WS_CLOSE = WEBSOCKET_TYPES = ("WSCONNECT", "WSCALL", "WSPUSH", "WSCLOSE")


def in_aggregate(method: str) -> bool:
    """Whether an endpoint's requests count in the Aggregated row (every type but WebSocket's)."""
    return method not in WEBSOCKET_TYPES

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
    # Kept up to date once first asked for, for long-lived totals (the master's, an hour's worth
    # of keys): the keys in order, and the samples per (decade, leading digit) block. A percentile
    # then walks ~90 blocks and the ~100 keys of one, not every key; no sort after the first.
    _keys: list[float] | None = field(default=None, init=False, repr=False, compare=False)
    _blocks: dict[int, int] | None = field(default=None, init=False, repr=False, compare=False)
    # samples per bucket of caller-given bounds (the exporter's `le` bounds), kept likewise
    _bounds: tuple[float, ...] = field(default=(), init=False, repr=False, compare=False)
    _bound_counts: list[int] | None = field(default=None, init=False, repr=False, compare=False)

    def sorted_keys(self) -> list[float]:
        """The histogram's keys, ascending (rebuilt if the histogram gained keys behind this
        accumulator's back)."""
        if self._keys is None or len(self._keys) != len(self.histogram):
            self._keys = sorted(self.histogram)
            self._blocks = self._bound_counts = None
        return self._keys

    def bound_counts(self, bounds: tuple[float, ...]) -> list[int]:
        """Samples per bucket: at or below bounds[0], then (bounds[i - 1], bounds[i]], then above
        the last bound. Kept up to date once asked for (one bounds tuple per accumulator)."""
        self.sorted_keys()
        if self._bound_counts is None or self._bounds is not bounds:
            counts = [0] * (len(bounds) + 1)
            for key, count in self.histogram.items():
                counts[bisect.bisect_left(bounds, key)] += count
            self._bounds, self._bound_counts = bounds, counts
        return self._bound_counts

    def _block_counts(self) -> dict[int, int]:
        keys = self.sorted_keys()
        if self._blocks is None:
            blocks: dict[int, int] = {}
            for key in keys:
                block = _block(key)
                blocks[block] = blocks.get(block, 0) + self.histogram[key]
            self._blocks = blocks
        return self._blocks

    def _new_key(self, key: float) -> None:
        if self._keys is not None:
            bisect.insort(self._keys, key)

    def add(self, response_time_ms: float | None, failed: bool) -> None:
        self.num_requests += 1
        if failed:
            self.num_failures += 1
        if response_time_ms is None:
            return
        key = histogram.bucket(response_time_ms)
        if self._keys is None:  # a worker's window: no index, the fewest steps per request
            self.histogram[key] = self.histogram.get(key, 0) + 1
        else:
            self.merge_counts({key: 1})
        self.total_response_time_ms += response_time_ms
        if self.min_response_time_ms is None or response_time_ms < self.min_response_time_ms:
            self.min_response_time_ms = response_time_ms
        if self.max_response_time_ms is None or response_time_ms > self.max_response_time_ms:
            self.max_response_time_ms = response_time_ms

    def merge(self, other: EndpointAccum) -> None:
        self.num_requests += other.num_requests
        self.num_failures += other.num_failures
        self.merge_counts(other.histogram)
        self.total_response_time_ms += other.total_response_time_ms
        for attr, pick in (("min_response_time_ms", min), ("max_response_time_ms", max)):
            mine, theirs = getattr(self, attr), getattr(other, attr)
            if theirs is not None:
                setattr(self, attr, theirs if mine is None else pick(mine, theirs))

    def merge_counts(self, counts: Mapping[float, int]) -> None:
        """Add histogram counts, keeping the key order and the block and bound counts if kept."""
        mine, blocks, bounds, bound_counts = self.histogram, self._blocks, self._bounds, self._bound_counts
        for key, count in counts.items():
            if key in mine:
                mine[key] += count
            else:
                mine[key] = count
                self._new_key(key)
            if blocks is not None:
                block = _BLOCKS.get(key) or _block(key)
                blocks[block] = blocks.get(block, 0) + count
            if bound_counts is not None:
                bound_counts[bisect.bisect_left(bounds, key)] += count

    def copy(self) -> EndpointAccum:
        return dataclasses.replace(self, histogram=dict(self.histogram))

    def percentile(self, p: float) -> float | None:
        return self.percentiles((p,))[0]

    def keep_index(self) -> EndpointAccum:
        """Keep the key order and the block counts from now on: for totals asked for percentiles
        again and again as they grow (the master's); a one-off question is cheaper without."""
        self._block_counts()
        return self

    def percentiles(self, ps: Sequence[float]) -> list[float | None]:
        """histogram.percentile's nearest ranks. With the index (`keep_index`), in one walk: to
        the block that holds each rank, then through that block's keys; else by bisection over
        the running counts of the sorted keys."""
        if self._blocks is None:
            keys = self.sorted_keys()
            cumulative = list(itertools.accumulate(map(self.histogram.__getitem__, keys)))
            if not cumulative or not cumulative[-1]:
                return [None] * len(ps)
            return [keys[bisect.bisect_left(cumulative, histogram.rank(p, cumulative[-1]))] for p in ps]
        blocks = self._block_counts()
        total = sum(blocks.values())
        out: list[float | None] = [None] * len(ps)
        if not total:
            return out
        ranks = [histogram.rank(p, total) for p in ps]
        keys, counts = self.sorted_keys(), self.histogram
        order = sorted(blocks)
        b, seen = 0, 0  # samples in the blocks before order[b]
        scanned: dict[int, list[int]] = {}  # block -> running counts of its keys
        for i in sorted(range(len(ps)), key=ranks.__getitem__):
            rank = ranks[i]
            while seen + blocks[order[b]] < rank:
                seen += blocks[order[b]]
                b += 1
            first = bisect.bisect_left(keys, _BLOCK_FLOOR[order[b]])
            running = scanned.get(order[b])
            if running is None:  # a block's keys run up to the next block's floor (<= 100 of them)
                end = bisect.bisect_left(keys, _BLOCK_FLOOR[order[b + 1]]) if b + 1 < len(order) else len(keys)
                running = scanned[order[b]] = list(itertools.accumulate(map(counts.__getitem__, keys[first:end])))
            out[i] = keys[first + bisect.bisect_left(running, rank - seen)]
        return out

    def to_stats(self) -> EndpointStats:
        return EndpointStats(
            method=self.method,
            name=self.name,
            num_requests=self.num_requests,
            num_failures=self.num_failures,
            histogram=self._pairs(),
            total_response_time_ms=self.total_response_time_ms,
            min_response_time_ms=self.min_response_time_ms,
            max_response_time_ms=self.max_response_time_ms,
        )

    def _pairs(self) -> list[list[float]]:
        """histogram.to_pairs, from the kept key order and without a Python loop (an hour's total
        has thousands of keys)."""
        keys = self.sorted_keys()
        counts = list(map(self.histogram.__getitem__, keys))
        if 0 in counts:
            return [[k, c] for k, c in zip(keys, counts, strict=True) if c]
        return list(map(list, zip(keys, counts, strict=True)))

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


_BLOCKS: dict[float, int] = {}  # histogram key -> its block; one entry per key ever seen (~900 per decade)
_BLOCK_FLOOR: dict[int, float] = {}  # block -> its smallest possible key


def _block(key: float) -> int:
    """The last (decade, leading digit) floor at or below `key`: blocks order like their keys, and
    a block's keys are those from its floor up to the next block's."""
    block = _BLOCKS.get(key)
    if block is None:
        if key <= 0 or math.isnan(key):
            decade, digit = -400, 0
        else:
            decade = math.floor(math.log10(key))
            digit = min(9, max(1, int(key / 10.0**decade)))
            if _floor(decade, digit) > key:  # log10 and the division may land one step off
                decade, digit = (decade, digit - 1) if digit > 1 else (decade - 1, 9)
            elif _floor(*((decade, digit + 1) if digit < 9 else (decade + 1, 1))) <= key:
                decade, digit = (decade, digit + 1) if digit < 9 else (decade + 1, 1)
        block = (decade + 400) * 10 + digit
        _BLOCKS[key], _BLOCK_FLOOR[block] = block, _floor(decade, digit) if digit else -math.inf
    return block


def _floor(decade: int, digit: int) -> float:
    return float(f"{digit}e{decade}")


def window_start(t: float, interval_s: float = INTERVAL_S) -> float:
    return math.floor(t / interval_s) * interval_s


def aggregate(accums: Iterable[EndpointAccum]) -> EndpointAccum:
    """The Aggregated row: every endpoint's merged, WebSocket timings left out (`in_aggregate`)."""
    total = EndpointAccum(method="", name=AGGREGATE_NAME)
    for accum in accums:
        if in_aggregate(accum.method):
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


class Staircase:
    """The largest value recorded in any window at or after a time, for every time, exactly.

    Kept as the windows whose value beats every later window's: t increasing, value strictly
    decreasing. Random data keeps ~ln(windows) steps (8 for an hour); a steadily falling maximum
    keeps one per window, which is still one number per window. `smallest=True` tracks minima.
    """

    def __init__(self, smallest: bool = False, steps: Iterable[Sequence[float]] = ()) -> None:
        self.sign = -1.0 if smallest else 1.0
        self.ts: list[float] = []
        self.vs: list[float] = []  # sign * value: strictly decreasing
        for t, v in steps:
            self.add(float(t), float(v))

    def add(self, t: float, value: float) -> None:
        v = self.sign * value
        i = bisect.bisect_left(self.ts, t)
        if i < len(self.ts) and self.vs[i] >= v:
            return  # a window at or after t already beats it
        j = i + 1 if i < len(self.ts) and self.ts[i] == t else i
        k = i
        while k > 0 and self.vs[k - 1] <= v:
            k -= 1
        self.ts[k:j] = [t]
        self.vs[k:j] = [v]

    @staticmethod
    def at_steps(steps: Sequence[Sequence[float]], start: float) -> float | None:
        """`at` on stored steps (`steps()`), without building the staircase."""
        i = bisect.bisect_left([step[0] for step in steps], start)
        return float(steps[i][1]) if i < len(steps) else None

    def at(self, start: float) -> float | None:
        """The extreme over windows starting at or after `start`; None when there are none."""
        i = bisect.bisect_left(self.ts, start)
        return self.sign * self.vs[i] if i < len(self.vs) else None

    def steps(self) -> list[list[float]]:
        return [[t, self.sign * v] for t, v in zip(self.ts, self.vs, strict=True)]


class RunAggregate:
    """Master side: the exact merge of every worker's windows, kept incrementally.

    Every report is added once into running totals (per endpoint, the aggregate, per window, and
    from the judged window's start on), so the live status, /metrics and the abort check cost
    O(endpoints), not O(endpoints x windows) however long the run has gone. Whole windows are
    kept in memory only until they are written to the window log (`take_writable`) and out of the
    recent past (`KEEP_S`); with no log, nothing is written and every window stays (tests, tools).

    A window is complete once every live worker has sent a report that started a later window:
    `complete_until`. Reports that arrive for a window already written (a worker that was slow or
    lost and back) are kept as late deltas and written as extra lines; every total includes them.
    """

    KEEP_S = 30.0  # recent windows kept for the status line and /metrics' last-interval series

    def __init__(self, interval_s: float = INTERVAL_S) -> None:
        self.interval_s = interval_s
        self.cumulative: dict[EndpointKey, EndpointAccum] = {}
        self.running_total = EndpointAccum(method="", name=AGGREGATE_NAME).keep_index()
        self.intervals: dict[float, dict[EndpointKey, EndpointAccum]] = {}  # in memory (see above)
        self.window_totals: dict[float, EndpointAccum] = {}  # per in-memory window, all endpoints
        self.index: dict[float, list[int]] = {}  # every window: [users, requests, failures]
        self.max_after: dict[EndpointKey, Staircase] = {}
        self.min_after: dict[EndpointKey, Staircase] = {}
        self.reported_until: dict[str, float] = {}  # worker -> its windows before this are complete
        self.first_window, self.last_window = math.inf, -math.inf
        self.written_until = -math.inf  # every window at or before this is in the log
        self.late: list[float] = []  # windows that got lines after their first (for readers)
        self._late_deltas: dict[float, dict[EndpointKey, EndpointAccum]] = {}
        self._judged_start: float | None = None
        self._judged: dict[EndpointKey, EndpointAccum] = {}
        self._judged_total = EndpointAccum(method="", name=AGGREGATE_NAME)
        self._lock = threading.Lock()

    def add_windows(
        self, windows: Iterable[WindowPayload], users: int, worker: str = "", received: float | None = None
    ) -> None:
        with self._lock:
            latest = -math.inf
            for window in windows:
                t = float(window["t"])
                latest = max(latest, t)
                row = self.index.setdefault(t, [0, 0, 0])
                self.first_window = min(self.first_window, t)
                self.last_window = max(self.last_window, t)
                row[0] = users
                late = t <= self.written_until
                if t not in self.intervals and not late:
                    self.intervals[t] = {}
                    self.window_totals[t] = EndpointAccum(method="", name=AGGREGATE_NAME)
                for stats in window["endpoints"]:
                    incoming = EndpointAccum.from_stats(stats)
                    key = (incoming.method, incoming.name)
                    counted = in_aggregate(incoming.method)
                    if counted:
                        row[1] += incoming.num_requests
                        row[2] += incoming.num_failures
                        self.running_total.merge(incoming)
                    targets = [self.cumulative]
                    if t in self.intervals:
                        targets.append(self.intervals[t])
                        if counted:
                            self.window_totals[t].merge(incoming)
                    if late:
                        targets.append(self._late_deltas.setdefault(t, {}))
                    if self._judged_start is not None and t >= self._judged_start:
                        targets.append(self._judged)
                        if counted:
                            self._judged_total.merge(incoming)
                    for target in targets:
                        if key not in target:
                            target[key] = EndpointAccum(method=key[0], name=key[1])
                            if target is self.cumulative or target is self._judged:
                                target[key].keep_index()
                        target[key].merge(incoming)
                    if incoming.max_response_time_ms is not None:
                        self.max_after.setdefault(key, Staircase()).add(t, incoming.max_response_time_ms)
                    if incoming.min_response_time_ms is not None:
                        self.min_after.setdefault(key, Staircase(smallest=True)).add(t, incoming.min_response_time_ms)
            if worker:
                # a report drains everything its worker recorded: the windows before the newest one it
                # sent (or before the one it was in when it sent, if nothing was recorded since) are done
                now = time.time() if received is None else received
                floor = window_start(now, self.interval_s) - self.interval_s
                self.reported_until[worker] = max(self.reported_until.get(worker, -math.inf), latest, floor)

    def complete_until(self, workers: Iterable[str]) -> float:
        """Windows starting before this have every listed worker's requests (-inf: not yet known)."""
        until = [self.reported_until.get(w, -math.inf) for w in workers]
        return min(until) if until else -math.inf

    def take_writable(self, until: float) -> list[tuple[float, int, list[EndpointAccum]]]:
        """Windows to write to the log, oldest first: each window before `until` not written yet,
        then the late deltas. Forgets written windows older than KEEP_S before `until`."""
        out: list[tuple[float, int, list[EndpointAccum]]] = []
        with self._lock:
            for t in sorted(t for t in self.intervals if self.written_until < t < until):
                window = self.intervals[t]
                out.append((t, self.index[t][0], [window[k] for k in sorted(window)]))
                self.written_until = t
            for t, delta in sorted(self._late_deltas.items()):
                out.append((t, self.index[t][0], [delta[k] for k in sorted(delta)]))
                self.late.append(t)
            self._late_deltas = {}
            for t in [t for t in self.intervals if t <= self.written_until and t < until - self.KEEP_S]:
                del self.intervals[t]
                del self.window_totals[t]
        return out

    def unwritten_before(self, start: float) -> dict[EndpointKey, EndpointAccum]:
        """The merge of what `take_writable` has not handed out yet, in windows before `start`."""
        out: dict[EndpointKey, EndpointAccum] = {}
        with self._lock:
            parts = [w for t, w in self.intervals.items() if t < start and t > self.written_until]
            parts += [d for t, d in self._late_deltas.items() if t < start]
        for part in parts:
            for key, accum in part.items():
                out.setdefault(key, EndpointAccum(method=key[0], name=key[1])).merge(accum)
        return out

    def judged(
        self, start: float, written_before: Callable[[float, Sequence[float]], dict[EndpointKey, EndpointAccum]]
    ) -> tuple[dict[EndpointKey, EndpointAccum], EndpointAccum]:
        """The exact per-endpoint merge of the windows from `start` on, kept up to date as reports
        arrive, and its total (read only: the caller must not change them). Set up once per start: the cumulative
        totals less the windows before `start` (`written_before` reads those back from the log),
        min and max from the staircases."""
        if start != self._judged_start:
            prior = written_before(start, list(self.late))
            for key, accum in self.unwritten_before(start).items():
                prior.setdefault(key, EndpointAccum(method=key[0], name=key[1])).merge(accum)
            with self._lock:
                judged = {}
                for key, total in self.cumulative.items():
                    accum = (subtract(total, prior[key]) if key in prior else total.copy()).keep_index()
                    accum.max_response_time_ms = self.max_after[key].at(start) if key in self.max_after else None
                    accum.min_response_time_ms = self.min_after[key].at(start) if key in self.min_after else None
                    if accum.num_requests:
                        judged[key] = accum
                self._judged, self._judged_start = judged, start
                self._judged_total = aggregate(judged.values()).keep_index()
        return self._judged, self._judged_total

    def summary(self, accum: EndpointAccum) -> EndpointStats:
        """A total as stats.json v2 keeps it: its stats, and its endpoint's staircases (when kept)."""
        stats = accum.to_stats()
        key = (accum.method, accum.name)
        if key in self.max_after:
            stats["max_after"] = self.max_after[key].steps()
        if key in self.min_after:
            stats["min_after"] = self.min_after[key].steps()
        return stats

    def endpoints(self) -> list[EndpointAccum]:
        with self._lock:
            return [self.cumulative[k] for k in sorted(self.cumulative)]

    def total(self) -> EndpointAccum:
        """The running total of every endpoint (read only, like `endpoints`: no copy of an hour's
        histogram for the status line every second)."""
        return self.running_total

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

    def rate(self, until: float, span_s: float) -> tuple[int, float, float | None]:
        """(requests, seconds, p95 ms) over the complete windows in [until - span_s, until): the
        seconds are those actually covered (the run's first window bounds them), so requests /
        seconds is the exact rate of that stretch."""
        with self._lock:
            if not self.index or until == -math.inf:
                return 0, 0.0, None
            until = min(until, self.last_window + self.interval_s)
            begin = max(until - span_s, self.first_window)
            count = max(0, math.ceil((until - begin) / self.interval_s - 1e-9))
            ts = [begin + k * self.interval_s for k in range(count)]
            requests = sum(self.index[t][1] for t in ts if t in self.index)
            hist = histogram.merged(self.window_totals[t].histogram for t in ts if t in self.window_totals)
        return requests, max(0.0, until - begin), histogram.percentile(hist, 0.95)

    def index_rows(self) -> list[list[float]]:
        """[[t, users, requests, failures], ...] for every window of the run, oldest first."""
        with self._lock:
            return [[t, *self.index[t]] for t in sorted(self.index)]

    def interval_stats(self) -> list[IntervalStats]:
        """The windows still in memory (every window, when no log is written) as stats.json v1 held them."""
        with self._lock:
            return [
                IntervalStats(
                    t=t,
                    users=self.index[t][0],
                    endpoints=[self.intervals[t][k].to_stats() for k in sorted(self.intervals[t])],
                )
                for t in sorted(self.intervals)
            ]


def subtract(total: EndpointAccum, part: EndpointAccum) -> EndpointAccum:
    """`total` less `part` (a subset of its windows); min and max are left to the caller."""
    hist = dict(total.histogram)
    for key, count in part.histogram.items():
        left = hist.get(key, 0) - count
        if left < 0:
            raise ValueError(f"{total.method} {total.name}: bucket {key} has {left} samples after subtraction")
        if left:
            hist[key] = left
        else:
            hist.pop(key, None)
    return EndpointAccum(
        method=total.method,
        name=total.name,
        num_requests=total.num_requests - part.num_requests,
        num_failures=total.num_failures - part.num_failures,
        histogram=hist,
        total_response_time_ms=max(0.0, total.total_response_time_ms - part.total_response_time_ms),
    )
