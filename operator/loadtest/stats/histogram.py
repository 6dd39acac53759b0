"""Response-time histograms: the one bucketing scheme and percentile rule everything shares.

Locust itself keeps whole milliseconds below 100 ms and two significant digits
above (147 -> 150, 3432 -> 3400). We record our own histograms on every worker
with three significant digits instead (0.532 ms, 12.3 ms, 147 ms, 3430 ms), so a
percentile read from the histogram is within 0.5 % of the true sample value at
every latency, not within 10 % above 100 ms. The cost is more distinct keys per
endpoint (at most 900 per decade, a few hundred in practice), which only the
worker -> master report and the stats artifact carry.

Percentiles use the nearest-rank rule: the p-th percentile is the smallest
recorded value such that at least ceil(p * N) samples are at or below it. That
is numpy's ``method="inverted_cdf"`` applied to the bucketed samples, so a
merged histogram gives exactly the percentile of the raw samples up to the
bucket rounding, whatever the order and grouping of merges.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

SIGNIFICANT_DIGITS = 3  # 0.5 % worst-case relative rounding error
BUCKET_SCHEME = "sig3-ms"  # recorded in artifacts so readers know how keys were rounded

Histogram = dict[float, int]


def bucket(response_time_ms: float) -> float:
    """Round a response time (ms) to three significant digits; <= 0 maps to 0."""
    if response_time_ms <= 0 or math.isnan(response_time_ms):
        return 0.0
    digits = SIGNIFICANT_DIGITS - 1 - math.floor(math.log10(response_time_ms))
    # round() can carry into the next decade (999.6 -> 1000.0); that is still 3 digits.
    return float(round(response_time_ms, digits))


def relative_resolution() -> float:
    """Largest relative error bucket() introduces: half a unit in the last kept digit."""
    return 0.5 * 10.0 ** (1 - SIGNIFICANT_DIGITS)


def merge(into: Histogram, other: Mapping[float, int]) -> Histogram:
    """Add `other`'s counts into `into` (in place) and return it."""
    for key, count in other.items():
        into[key] = into.get(key, 0) + count
    return into


def merged(histograms: Iterable[Mapping[float, int]]) -> Histogram:
    out: Histogram = {}
    for h in histograms:
        merge(out, h)
    return out


def count(histogram: Mapping[float, int]) -> int:
    return sum(histogram.values())


def rank(p: float, total: int) -> int:
    """The nearest rank of the p-th percentile among `total` samples (p in [0, 1])."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"percentile must be within [0, 1], got {p}")
    # 0.999 * 1000 is 999.0000000000001 in floating point: without the epsilon the rank would be 1000
    return max(1, math.ceil(p * total - 1e-9))


def percentile(histogram: Mapping[float, int], p: float) -> float | None:
    """Nearest-rank percentile, p in [0, 1]. None for an empty histogram: never a fake 0."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"percentile must be within [0, 1], got {p}")
    total = count(histogram)
    if total == 0:
        return None
    rank_ = rank(p, total)
    seen = 0
    for key in sorted(histogram):
        seen += histogram[key]
        if seen >= rank_:
            return key
    return max(histogram)  # unreachable: seen == total >= rank at the last key


def to_pairs(histogram: Mapping[float, int]) -> list[list[float]]:
    """JSON form: sorted [[value_ms, count], ...] (JSON object keys cannot be numbers)."""
    return [[key, histogram[key]] for key in sorted(histogram) if histogram[key]]


def from_pairs(pairs: Iterable[Iterable[float]]) -> Histogram:
    if isinstance(pairs, list):  # the usual case, distinct keys (to_pairs' output): no Python loop
        out: Histogram = dict(map(tuple, pairs))
        if len(out) == len(pairs):
            return out
    out = {}
    for pair in pairs:
        key, n = pair
        out[float(key)] = out.get(float(key), 0) + int(n)
    return out
