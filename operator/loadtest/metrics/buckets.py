"""Prometheus buckets and exact percentiles derived from the 3-significant-digit histograms.

Two things are read from each exact histogram at every scrape: nearest-rank
percentiles (the same rule as `histogram.percentile`) and cumulative counts
per fixed Prometheus bucket. A `Digest` sorts the keys once and answers both
with binary searches, so the per-scrape cost per endpoint is one C-level sort
instead of a Python loop per key per question. A `LiveDigest` answers from the
counts the master's running totals keep per block and per bucket: no pass over
the keys at all, however many an hour has gathered.

Bucket bounds. `histogram_quantile` interpolates linearly inside the bucket
holding the rank, and the exact percentile lies in that same bucket; with
bounds (a, b] the estimate and the exact value are both in (a, b], so the
relative error is at most b/a - 1. Bounds grow by a ratio of at most 1.1
(rounded down to 3 significant digits) from 4 ms to past 6 s, so for an exact
percentile between 5 ms and 5 s the estimate is within 10 %. Coarse bounds
below and above keep the rest of the range readable at low cost.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping, Sequence
from decimal import ROUND_FLOOR, Decimal
from itertools import accumulate

from loadtest.stats import histogram
from loadtest.stats.recording import EndpointAccum

BUCKET_RATIO = Decimal("1.1")  # adjacent bounds differ by <= 10 %: histogram_quantile error <= 10 %
DENSE_FROM_MS = Decimal("4")  # dense region covers the promised 5 ms .. 5 s with a margin each side
DENSE_TO_MS = Decimal("6000")
COARSE_BELOW_MS = (Decimal("1"), Decimal("2"))
COARSE_ABOVE_MS = (Decimal("10000"), Decimal("20000"), Decimal("30000"), Decimal("60000"))
ACCURATE_FROM_S = 0.005  # the range where the 10 % bound is promised (and tested)
ACCURATE_TO_S = 5.0
MAX_RELATIVE_ERROR = 0.10  # = BUCKET_RATIO - 1: the histogram_quantile error bound in the dense range


def _floor_3sig(value: Decimal) -> Decimal:
    """Round down to 3 significant digits: readable `le` values, and the ratio stays <= BUCKET_RATIO."""
    quantum = Decimal(1).scaleb(value.adjusted() - 2)
    return value.quantize(quantum, rounding=ROUND_FLOOR)


def _bucket_bounds_ms() -> tuple[Decimal, ...]:
    dense = [DENSE_FROM_MS]
    while dense[-1] < DENSE_TO_MS:
        dense.append(_floor_3sig(dense[-1] * BUCKET_RATIO))
    return (*COARSE_BELOW_MS, *dense, *COARSE_ABOVE_MS)


_BOUNDS_MS_DEC = _bucket_bounds_ms()
# Bounds in ms compare exactly with histogram.bucket() keys: both are 3-significant-digit floats.
BUCKET_BOUNDS_MS: tuple[float, ...] = tuple(float(b) for b in _BOUNDS_MS_DEC)
BUCKET_BOUNDS_S: tuple[float, ...] = tuple(float(b / 1000) for b in _BOUNDS_MS_DEC)
LE_LABELS: tuple[str, ...] = (*(repr(b) for b in BUCKET_BOUNDS_S), "+Inf")


def nearest_rank(p: float, total: int) -> int:
    """The rank histogram.percentile uses for p of `total` samples (tests keep the two in step).

    The epsilon keeps float products such as 0.99 * 100 = 99.00000000000001 at rank 99.
    """
    return histogram.rank(p, total)


class Digest:
    """One histogram's sorted keys and running counts: percentiles and bucket counts by bisection."""

    __slots__ = ("keys", "counts", "cumulative", "_buckets")

    def __init__(self, hist: Mapping[float, int]) -> None:
        self.keys: list[float] = sorted(hist)
        self.counts: list[int] = list(map(hist.__getitem__, self.keys))
        self.cumulative: list[int] = list(accumulate(self.counts))
        self._buckets: list[int] | None = None

    @property
    def total(self) -> int:
        return self.cumulative[-1] if self.cumulative else 0

    @property
    def size(self) -> int:
        return len(self.keys)

    def percentile(self, p: float) -> float | None:
        """Nearest-rank percentile in ms (histogram.percentile's rule); None when empty."""
        total = self.total
        if total == 0:
            return None
        rank = nearest_rank(p, total)
        return self.keys[bisect_left(self.cumulative, rank)]

    def percentiles(self, ps: Sequence[float]) -> list[float | None]:
        return [self.percentile(p) for p in ps]

    def count_at_or_below(self, value_ms: float) -> int:
        i = bisect_right(self.keys, value_ms)
        return self.cumulative[i - 1] if i else 0

    def items(self) -> Iterable[tuple[float, int]]:
        return zip(self.keys, self.counts, strict=True)

    def items_between(self, lower: float, upper: float) -> Iterable[tuple[float, int]]:
        """(key, count) for the keys in (lower, upper]."""
        lo, hi = bisect_right(self.keys, lower), bisect_right(self.keys, upper)
        return zip(self.keys[lo:hi], self.counts[lo:hi], strict=True)

    def bucket_counts(self) -> list[int]:
        """Cumulative counts per BUCKET_BOUNDS_MS bound, then +Inf (Prometheus `le` semantics)."""
        if self._buckets is None:
            keys, cumulative = self.keys, self.cumulative
            out: list[int] = []
            lo = 0
            for bound in BUCKET_BOUNDS_MS:
                lo = bisect_right(keys, bound, lo)
                out.append(cumulative[lo - 1] if lo else 0)
            out.append(self.total)
            self._buckets = out
        return self._buckets


class LiveDigest(Digest):
    """A Digest over a long-lived accumulator (the master's per-endpoint totals): the same answers
    from the counts the accumulator keeps as samples arrive (per block of keys, per bucket), so a
    scrape costs the same after an hour as after a minute, not a pass over every key."""

    __slots__ = ("accum",)

    def __init__(self, accum: EndpointAccum) -> None:
        self.accum = accum
        self._buckets = None

    @property
    def total(self) -> int:
        return sum(self.accum.bound_counts(BUCKET_BOUNDS_MS))

    @property
    def size(self) -> int:
        return len(self.accum.histogram)

    def percentile(self, p: float) -> float | None:
        return self.accum.percentile(p)

    def percentiles(self, ps: Sequence[float]) -> list[float | None]:
        return self.accum.percentiles(ps)

    def count_at_or_below(self, value_ms: float) -> int:
        keys = self.accum.sorted_keys()
        return sum(self.accum.histogram[k] for k in keys[: bisect_right(keys, value_ms)])

    def items(self) -> Iterable[tuple[float, int]]:
        return self.accum.histogram.items()

    def items_between(self, lower: float, upper: float) -> Iterable[tuple[float, int]]:
        keys, counts = self.accum.sorted_keys(), self.accum.histogram
        return ((k, counts[k]) for k in keys[bisect_right(keys, lower) : bisect_right(keys, upper)])

    def bucket_counts(self) -> list[int]:
        if self._buckets is None:
            self._buckets = list(accumulate(self.accum.bound_counts(BUCKET_BOUNDS_MS)))
        return self._buckets


def union_percentiles(digests: Sequence[Digest], ps: Sequence[float]) -> list[float | None]:
    """Nearest-rank percentiles of the merge of `digests`, without merging whole histograms.

    With many keys, the summed bucket counts locate the Prometheus bucket holding each rank;
    only the keys inside that one bucket are merged, a small fraction of the
    one dict update per key of every endpoint a full merge would cost.
    """
    if sum(d.size for d in digests) <= len(digests) * len(BUCKET_BOUNDS_MS):
        # Few keys (e.g. the last window): one plain merge is cheaper than bucket counts for each.
        merged: dict[float, int] = {}
        for d in digests:
            for key, n in d.items():
                merged[key] = merged.get(key, 0) + n
        whole = Digest(merged)
        return [whole.percentile(p) for p in ps]
    merged_buckets = [sum(column) for column in zip(*(d.bucket_counts() for d in digests), strict=True)]
    total = merged_buckets[-1]
    if total == 0:
        return [None] * len(ps)
    bounds = (-math.inf, *BUCKET_BOUNDS_MS, math.inf)  # bucket i spans (bounds[i], bounds[i + 1]]
    out: list[float | None] = []
    for p in ps:
        rank = nearest_rank(p, total)
        i = bisect_left(merged_buckets, rank)
        seen = merged_buckets[i - 1] if i else 0
        lower, upper = bounds[i], bounds[i + 1]
        local: dict[float, int] = {}
        for d in digests:
            for key, n in d.items_between(lower, upper):
                local[key] = local.get(key, 0) + n
        for key in sorted(local):
            seen += local[key]
            if seen >= rank:
                out.append(key)
                break
    return out
