"""The Prometheus buckets keep histogram_quantile within 10 % of the exact percentile, 5 ms .. 5 s."""

from __future__ import annotations

import math
from bisect import bisect_left

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from loadtest.metrics.buckets import (
    ACCURATE_FROM_S,
    ACCURATE_TO_S,
    BUCKET_BOUNDS_MS,
    BUCKET_BOUNDS_S,
    LE_LABELS,
    MAX_RELATIVE_ERROR,
    Digest,
    LiveDigest,
    nearest_rank,
    union_percentiles,
)
from loadtest.stats import histogram
from loadtest.stats.recording import EndpointAccum


def histogram_quantile(q: float, bounds_s: tuple[float, ...], cumulative: list[int]) -> float:
    """Prometheus's bucketQuantile (promql/quantile.go, v2.42) on one series' bucket counts."""
    uppers = [*bounds_s, math.inf]
    observations = cumulative[-1]
    rank = q * observations
    b = bisect_left(cumulative[:-1], rank)  # sort.Search(len-1, count >= rank)
    if b == len(uppers) - 1:
        return uppers[-2]
    if b == 0 and uppers[0] <= 0:
        return uppers[0]
    start, end, count = 0.0, uppers[b], float(cumulative[b])
    if b > 0:
        start = uppers[b - 1]
        count -= cumulative[b - 1]
        rank -= cumulative[b - 1]
    return start + (end - start) * (rank / count)


def test_bounds_are_increasing_and_le_labels_name_them() -> None:
    assert list(BUCKET_BOUNDS_S) == sorted(set(BUCKET_BOUNDS_S))
    assert [float(le) for le in LE_LABELS[:-1]] == list(BUCKET_BOUNDS_S)
    assert LE_LABELS[-1] == "+Inf"
    assert all(histogram.bucket(b) == b for b in BUCKET_BOUNDS_MS)  # bounds are 3-digit keys themselves


def test_every_bucket_touching_5ms_to_5s_spans_at_most_ten_percent() -> None:
    """The bound: estimate and exact value share a bucket (a, b], so the error is at most b/a - 1."""
    lower = max(b for b in BUCKET_BOUNDS_S if b < ACCURATE_FROM_S)
    upper = min(b for b in BUCKET_BOUNDS_S if b >= ACCURATE_TO_S)
    dense = [b for b in BUCKET_BOUNDS_S if lower <= b <= upper]
    ratios = [hi / lo for lo, hi in zip(dense, dense[1:], strict=False)]
    assert max(ratios) <= 1 + MAX_RELATIVE_ERROR + 1e-12
    assert MAX_RELATIVE_ERROR <= 0.10
    assert len(BUCKET_BOUNDS_S) < 90  # cost: every endpoint exports one series per bound


latencies_ms = st.floats(min_value=0.1, max_value=100_000, allow_nan=False)


@st.composite
def histograms_with_p95_in_range(draw: st.DrawFn) -> dict[float, int]:
    clustered = draw(st.booleans())
    centre = draw(st.floats(min_value=ACCURATE_FROM_S * 1000, max_value=ACCURATE_TO_S * 1000))
    values = draw(
        st.lists(
            st.floats(min_value=centre, max_value=centre * 1.0999) if clustered else latencies_ms,
            min_size=1,
            max_size=300,
        )
    )
    hist: dict[float, int] = {}
    for v in values:
        key = histogram.bucket(v)
        hist[key] = hist.get(key, 0) + draw(st.integers(min_value=1, max_value=50))
    return hist


@settings(max_examples=400, deadline=None)
@given(histograms_with_p95_in_range())
@example({4.41: 95, 4.84: 5})  # everything just above a bound, rank at the top of the bucket
@example({5.0: 1})
@example({4990.0: 19, 5000.0: 1})
def test_histogram_quantile_is_within_ten_percent_of_the_exact_p95(hist: dict[float, int]) -> None:
    exact_ms = histogram.percentile(hist, 0.95)
    assert exact_ms is not None
    if not ACCURATE_FROM_S * 1000 <= exact_ms <= ACCURATE_TO_S * 1000:
        return  # the promise covers exact p95s between 5 ms and 5 s
    estimate_s = histogram_quantile(0.95, BUCKET_BOUNDS_S, Digest(hist).bucket_counts())
    assert abs(estimate_s - exact_ms / 1000) <= MAX_RELATIVE_ERROR * exact_ms / 1000 + 1e-12


def test_the_worst_case_is_close_to_the_bound_so_the_bound_is_not_loose() -> None:
    hist = {4.41: 1_000_000}  # rank interpolates to the top of (4.4, 4.84]
    estimate = histogram_quantile(0.999999, BUCKET_BOUNDS_S, Digest(hist).bucket_counts())
    assert estimate / 0.00441 - 1 > 0.09


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from([histogram.bucket(x / 7) for x in range(1, 5000)]), st.integers(1, 9)))
def test_digest_percentiles_follow_the_shared_nearest_rank_rule(hist: dict[float, int]) -> None:
    digest = Digest(hist)
    for p in (0.0, 0.5, 0.9, 0.95, 0.99, 1.0):
        assert digest.percentile(p) == histogram.percentile(hist, p)
    assert digest.total == sum(hist.values())


small_hists = st.dictionaries(
    st.sampled_from([histogram.bucket(1.37**i) for i in range(40)]), st.integers(1, 20), max_size=30
)


@settings(max_examples=200, deadline=None)
@given(st.lists(small_hists, max_size=12))
def test_union_percentiles_equal_percentiles_of_the_merged_histogram(hists: list[dict[float, int]]) -> None:
    merged = histogram.merged(hists)
    expected = [histogram.percentile(merged, p) for p in (0.5, 0.9, 0.95, 0.99)]
    assert union_percentiles([Digest(h) for h in hists], [0.5, 0.9, 0.95, 0.99]) == expected


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(1, 4000), min_size=1, max_size=4), st.integers(0, 2**32 - 1))
def test_union_percentiles_take_the_bucket_path_for_many_keys_and_stay_exact(sizes: list[int], seed: int) -> None:
    import random

    rng = random.Random(seed)
    hists = [{histogram.bucket(rng.lognormvariate(4, 1.5)): rng.randint(1, 3) for _ in range(n)} for n in sizes]
    digests = [Digest(h) for h in hists]
    merged = histogram.merged(hists)
    expected = [histogram.percentile(merged, p) for p in (0.5, 0.95, 0.99)]
    assert union_percentiles(digests, [0.5, 0.95, 0.99]) == expected


def test_bucket_counts_are_cumulative_with_inclusive_upper_bounds() -> None:
    counts = Digest({1.0: 2, 1.01: 1, 6390.0: 4, 60000.0: 1, 70000.0: 3}).bucket_counts()
    assert counts[0] == 2  # le=0.001
    assert counts[1] == 3  # le=0.002
    assert counts[LE_LABELS.index("6.39")] == 7
    assert counts[LE_LABELS.index("60.0")] == 8
    assert counts[-1] == 11
    assert counts == sorted(counts)


def test_empty_inputs_have_no_percentiles() -> None:
    assert Digest({}).percentile(0.95) is None
    assert union_percentiles([], [0.5]) == [None]
    assert union_percentiles([Digest({})], [0.5, 0.99]) == [None, None]
    assert Digest({}).bucket_counts() == [0] * len(LE_LABELS)


@pytest.mark.parametrize(("p", "total"), [(0.99, 100), (0.999, 1000), (0.95, 20), (0.9, 10), (0.5, 1), (0.99, 1)])
def test_ranks_match_the_shared_rule_where_floats_round_up(p: float, total: int) -> None:
    hist = {float(i): 1 for i in range(1, total + 1)}  # value i has rank i
    assert nearest_rank(p, total) == histogram.percentile(hist, p)
    assert Digest(hist).percentile(p) == histogram.percentile(hist, p)
    assert union_percentiles([Digest(hist)], [p]) == [histogram.percentile(hist, p)]


def test_a_live_digest_of_a_growing_total_answers_exactly_like_a_fresh_digest() -> None:
    """The master's totals keep counts per bucket and per block of keys as samples arrive; a scrape
    reads those. Every answer equals a Digest sorted from scratch, at every step of growth."""
    import random

    rng = random.Random(9)
    totals = [EndpointAccum("GET", f"/{i}") for i in range(3)]
    live = [LiveDigest(t) for t in totals]
    ps = [0.5, 0.9, 0.95, 0.99, 1.0]
    for step in range(300):
        accum = totals[step % 3]
        part = EndpointAccum(accum.method, accum.name)
        for _ in range(rng.randrange(1, 30)):
            part.add(rng.choice([rng.lognormvariate(4, 2), 0.0, 1.0, 6000.0, 61000.0]), False)
        accum.merge(part)
        live = [LiveDigest(t) for t in totals]  # the collector makes one per changed total
        fresh = [Digest(t.histogram) for t in totals]
        for a, b in zip(live, fresh, strict=True):
            assert (a.total, a.size, a.bucket_counts()) == (b.total, b.size, b.bucket_counts())
            assert a.percentiles(ps) == b.percentiles(ps) == [histogram.percentile(dict(b.items()), p) for p in ps]
            assert a.count_at_or_below(100.0) == b.count_at_or_below(100.0)
        assert union_percentiles(live, ps) == union_percentiles(fresh, ps)
